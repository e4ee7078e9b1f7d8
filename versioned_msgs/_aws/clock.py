"""The clock the consumer measures Lambda's deadline with.

One place for it, so the reference path and the SQS fast path read the same clock, and a
test can move it (monkeypatch ``monotonic`` here) instead of sleeping.
"""

from __future__ import annotations

import time

__all__ = ["monotonic"]

monotonic = time.monotonic
