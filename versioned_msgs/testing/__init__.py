"""Helpers for testing code that uses versioned_msgs.

- :class:`Emulator`: a moto server on loopback with boto3 clients pointed at it.
- pytest fixtures ``moto_server`` and ``aws`` (installed as a pytest plugin with the package;
  see :mod:`versioned_msgs.testing._plugin`).
- Lambda event builders from :class:`~versioned_msgs.Encoded` values: :func:`sqs_event`,
  :func:`sns_event`, :func:`sns_sqs_event`, :func:`s3_event`, :func:`kinesis_event`,
  :func:`eventbridge_event`; and :func:`lambda_sqs_event` / :func:`lambda_kinesis_event`,
  which shape boto3 ``receive_message`` / ``get_records`` output the way Lambda's SQS and
  Kinesis triggers deliver it.
"""

from __future__ import annotations

from ._emulator import Emulator
from ._events import (
    eventbridge_event,
    kinesis_event,
    lambda_kinesis_event,
    lambda_sqs_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)

__all__ = [
    "Emulator",
    "eventbridge_event",
    "kinesis_event",
    "lambda_kinesis_event",
    "lambda_sqs_event",
    "s3_event",
    "sns_event",
    "sns_sqs_event",
    "sqs_event",
]
