"""Helpers for testing code that uses versioned_msgs.

- :class:`Emulator`: a moto server on loopback with boto3 clients pointed at it.
- pytest fixtures ``moto_server`` and ``aws`` (installed as a pytest plugin with the package;
  see :mod:`versioned_msgs._pytest_plugin`).
"""

from __future__ import annotations

from ._emulator import Emulator

__all__ = ["Emulator"]
