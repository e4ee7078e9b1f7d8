"""The pure core: stamps and their carriers, the registry, the codec, errors and ``Meta``.

Nothing here talks to AWS or imports boto3; every function is a pure computation over
bytes, dicts and models. The AWS runtime (:mod:`versioned_msgs._aws`) builds on it.
"""
