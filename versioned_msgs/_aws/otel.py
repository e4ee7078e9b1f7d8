"""OpenTelemetry glue: the active span's context for publishers, CONSUMER spans for handlers.

OpenTelemetry is optional (the ``otel`` extra) and never imported here: it is used only
when the application has already imported ``opentelemetry.trace`` (found in
``sys.modules``), so an application that does not use it, or has it installed but unused,
pays nothing. Parsing and writing the headers themselves is pure and lives in
``_core/trace.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from .._core.meta import Meta
from .._core.trace import TraceContext, parse_tracestate

__all__ = ["Invocation", "active_trace", "messaging_facts", "traced_handler"]

_API = "opentelemetry.trace"
_SCOPE = "versioned_msgs"

Handler = Callable[[Any, Meta], Any]

# What messaging.system says for each Lambda trigger: the semantic conventions' values
# where they name the service (aws_sqs, aws.sns), the same form for the others.
_SYSTEMS = {
    "aws:sqs": "aws_sqs",
    "aws:sns": "aws.sns",
    "aws:kinesis": "aws_kinesis",
    "aws:s3": "aws_s3",
}
EVENTBRIDGE_SYSTEM = "aws_eventbridge"


def _api() -> Any:
    return sys.modules.get(_API)


def active_trace() -> TraceContext | None:
    """The context of the application's active OpenTelemetry span, or ``None`` (no
    OpenTelemetry imported, no span active, or an invalid one). Never raises: a broken
    tracing setup must not stop a message from being sent."""
    api = _api()
    if api is None:
        return None
    try:
        ctx = api.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        state = ctx.trace_state.to_header() if ctx.trace_state else ""
        return TraceContext(
            f"{ctx.trace_id:032x}",
            f"{ctx.span_id:016x}",
            int(ctx.trace_flags) & 0xFF,
            parse_tracestate(state) if state else None,
        )
    except Exception:
        return None


def _arn_resource(arn: object) -> str | None:
    """The resource part of an ARN (``arn:aws:sqs:eu-west-1:123:orders`` -> ``orders``)."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return parts[5]


def messaging_facts(record: object) -> tuple[str | None, str | None]:
    """``messaging.system`` and ``messaging.destination.name`` of a raw Lambda record: the
    service that invoked the function and its queue, topic, stream or bucket (``None``
    when the record does not say, as for EventBridge's bus)."""
    if not isinstance(record, Mapping):
        return None, None
    source = record.get("eventSource") or record.get("EventSource")
    system = _SYSTEMS.get(source) if isinstance(source, str) else None
    if system is None:
        if "detail-type" in record and "source" in record:
            return EVENTBRIDGE_SYSTEM, None
        return None, None
    name: str | None = None
    if source == "aws:sns":
        sns = record.get("Sns")
        name = _arn_resource(sns.get("TopicArn")) if isinstance(sns, Mapping) else None
    elif source == "aws:s3":
        s3 = record.get("s3")
        bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
        found = bucket.get("name") if isinstance(bucket, Mapping) else None
        name = found if isinstance(found, str) else None
    else:
        name = _arn_resource(record.get("eventSourceARN"))
        if name is not None and source == "aws:kinesis":
            name = name.removeprefix("stream/")
    return system, name


class Invocation:
    """What the consumer's spans need to know about the invocation being processed: its
    number of raw records (``None``: unknown) and, looked up on its first traced record,
    the tracer to use. The consumer makes one per invocation."""

    __slots__ = ("resolved", "size", "tracer")

    def __init__(self, size: int | None) -> None:
        self.size = size
        self.resolved = False
        self.tracer: Any = None


class _Tracers:
    """The tracer of the current global provider, or None while that provider records
    nothing (no SDK configured): then handlers run without a span. Asked once per
    invocation (asking OpenTelemetry for its provider costs microseconds)."""

    __slots__ = ("api", "provider", "tracer")

    def __init__(self, api: Any) -> None:
        self.api = api
        self.provider: Any = None
        self.tracer: Any = None

    def get(self) -> Any:
        api = self.api
        provider = api.get_tracer_provider()
        if provider is not self.provider:
            if isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
                tracer = None
            else:
                tracer = provider.get_tracer(_SCOPE)
            self.provider, self.tracer = provider, tracer
        return self.tracer


_tracers: _Tracers | None = None


def _tracer_for(invocation: Invocation, api: Any) -> Any:
    global _tracers
    if not invocation.resolved:
        tracers = _tracers
        if tracers is None or tracers.api is not api:
            tracers = _tracers = _Tracers(api)
        invocation.tracer = tracers.get()
        invocation.resolved = True
    return invocation.tracer


def _link(api: Any, trace: TraceContext) -> Any:
    state = api.TraceState.from_header([trace.tracestate]) if trace.tracestate else None
    return api.Link(
        api.SpanContext(
            trace_id=int(trace.trace_id, 16),
            span_id=int(trace.span_id, 16),
            is_remote=True,
            trace_flags=api.TraceFlags(trace.flags),
            trace_state=state,
        )
    )


def traced_handler(fn: Handler, invocation: Callable[[], Invocation]) -> Handler:
    """``fn`` run inside a CONSUMER span named ``process <destination>`` (the messaging
    semantic conventions), linked to the producer's span (``meta.trace_context``), when
    OpenTelemetry is imported now; else ``fn`` itself, unchanged.

    ``invocation()`` is the invocation being processed. The span records a handler's
    exception and the exception goes on, so the record fails exactly as it would without
    tracing.
    """
    api = _api()
    if api is None:
        return fn
    consumer_kind = api.SpanKind.CONSUMER

    def handler(msg: Any, meta: Meta) -> Any:
        current = invocation()
        active = current.tracer if current.resolved else _tracer_for(current, api)
        if active is None:
            return fn(msg, meta)
        system, destination = messaging_facts(meta.record)
        attributes: dict[str, Any] = {
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
        }
        if system is not None:
            attributes["messaging.system"] = system
        if destination is not None:
            attributes["messaging.destination.name"] = destination
        if meta.message_id is not None:
            attributes["messaging.message.id"] = meta.message_id
        size = current.size
        if size is not None:
            attributes["messaging.batch.message_count"] = size
        attributes["vmsg.type"] = meta.type
        attributes["vmsg.version"] = meta.version
        producer = meta.trace_context
        links = [_link(api, producer)] if producer is not None else None
        name = f"process {destination}" if destination is not None else "process"
        with active.start_as_current_span(
            name, kind=consumer_kind, attributes=attributes, links=links
        ):
            return fn(msg, meta)

    handler.__wrapped__ = fn  # type: ignore[attr-defined]
    return handler
