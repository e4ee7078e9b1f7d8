"""The ``versioned-msgs`` command line: commands, terminal output and the demo.

Tool code only: nothing in the library (``import versioned_msgs``, ``versioned_msgs.s3batch``)
imports this package. The entry point is :func:`versioned_msgs._cli.main.main`.
"""
