"""``Meta``: what a consumer knows about one decoded message besides its payload."""

from __future__ import annotations

from typing import Any

import msgspec

from .trace import TRACEPARENT, TraceContext, trace_from_attributes, trace_from_record

__all__ = ["Meta"]


class Meta(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Facts about one message, handed to handlers beside the model instance.

    ``version`` is the version as written by the producer; ``model_version`` the version of
    the model the payload was decoded into; ``upgraded_from`` equals ``version`` when the
    payload went through upgraders, else ``None``. ``source`` is one of ``"sqs" "sns" "s3"
    "kinesis" "eventbridge"`` (``None`` for :meth:`Registry.decode` outside a consumer).
    ``attributes`` are the user's own message attributes (``vmsg-*`` removed), as plain
    str/number values. ``record`` is the raw Lambda record.

    ``carried_trace`` is the trace context the consumer read from the payload's own
    carrier (S3 metadata or the embedded envelope); read :attr:`trace_context`, which
    also looks at the message attributes and SQS's ``AWSTraceHeader``.
    """

    type: str
    version: int
    model_version: int = 0
    upgraded_from: int | None = None
    readable_by: int | None = None
    producer: str | None = None
    content_type: str = "application/json"
    source: str | None = None
    message_id: str | None = None
    attributes: dict[str, Any] = {}
    group_id: str | None = None
    bucket: str | None = None
    key: str | None = None
    record: Any = None
    carried_trace: TraceContext | None = None

    @property
    def trace_context(self) -> TraceContext | None:
        """The producer's trace context, or ``None``: read when asked (nothing is parsed
        for a handler that never asks), from the ``traceparent``/``tracestate`` message
        attributes, else the S3 metadata or envelope ones (``carried_trace``), else the
        SQS record's ``AWSTraceHeader``. Malformed headers count as absent."""
        attrs = self.attributes
        if attrs and TRACEPARENT in attrs:
            found = trace_from_attributes(attrs)
            if found is not None:
                return found
        if self.carried_trace is not None:
            return self.carried_trace
        return trace_from_record(self.record)

    @property
    def tolerated(self) -> bool:
        """True when the payload was newer than the model and read thanks to ``readable_by``."""
        rb = self.readable_by
        return self.version > self.model_version and rb is not None and rb <= self.model_version
