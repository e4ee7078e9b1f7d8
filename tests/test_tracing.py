"""W3C trace context end to end, with the OpenTelemetry SDK's in-memory exporter:
publisher (inside a producer span) -> moto server -> the Lambda event built from what moto
delivered -> consumer, whose handler runs in a CONSUMER span linked to the producer's."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aws_support import make_queue, read_shard, subscribe_queue
from consumer_models import PRODUCER, OrderV1, OrderV2, OrderV3, Seen, consumer_registry, v2
from test_consumer_aws import receive_all

import versioned_msgs as vm
from versioned_msgs._aws.otel import Invocation, active_trace, traced_handler
from versioned_msgs._core.envelope import unembed
from versioned_msgs.testing import (
    Emulator,
    kinesis_event,
    lambda_kinesis_event,
    lambda_sqs_event,
    s3_event,
    sns_event,
    sqs_event,
)

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _reset_global_provider() -> None:
    # The API lets a process set its provider once; tests set one each and take it back.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_global_provider()
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    _reset_global_provider()


def tracer() -> trace.Tracer:
    return trace.get_tracer("tests.producer")


def consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]


def expected_context(span: trace.Span) -> vm.TraceContext:
    ctx = span.get_span_context()
    state = ctx.trace_state.to_header() or None
    return vm.TraceContext(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", ctx.trace_flags, state)


def assert_linked_to(span: ReadableSpan, producer: trace.Span) -> None:
    want = producer.get_span_context()
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [
        (want.trace_id, want.span_id)
    ]
    assert span.links[0].context.is_remote


def make_consumer(**options: Any) -> tuple[vm.Consumer, Seen]:
    consumer = vm.Consumer(consumer_registry(), **options)
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    return consumer, seen


# ---- SQS ----------------------------------------------------------------------------------


def test_sqs_send_and_send_batch_link_each_consumer_span_to_the_producer(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """send and send_batch inside a producer span: traceparent travels as a message
    attribute; the fast path runs every handler in a CONSUMER span linked to the producer,
    named and attributed by the messaging conventions; the reference path agrees."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "orders-traced")
    pub = vm.Publisher(PRODUCER, sqs=sqs)
    with tracer().start_as_current_span("checkout", kind=SpanKind.PRODUCER) as producer:
        pub.send(url, OrderV2(id="a", qty=1), attributes={"tenant": "acme"})
        result = pub.send_batch(url, [OrderV1(id="b"), OrderV2(id="c", qty=2)])
    assert result.ok
    msgs = receive_all(sqs, url, 3)
    for m in msgs:
        assert m["MessageAttributes"]["traceparent"]["StringValue"] == (
            expected_context(producer).traceparent
        )
    event = lambda_sqs_event(msgs, arn)
    reference_event = copy.deepcopy(event)
    spans.clear()

    consumer, seen = make_consumer()
    report = consumer.process(event, None)
    assert sorted(r.outcome for r in report.records) == ["handled", "handled", "upgraded"]
    assert consumer._fast_stats.fast == 3  # the fast path ran, and traced
    assert {meta.trace_context for _, meta in seen.calls} == {expected_context(producer)}

    got = consumer_spans(spans)
    assert len(got) == 3
    ids = {m["MessageId"] for m in msgs}
    for span in got:
        assert span.name == "process orders-traced"
        assert_linked_to(span, producer)
        attrs = dict(span.attributes or {})
        assert attrs.pop("messaging.message.id") in ids
        assert attrs == {
            "messaging.system": "aws_sqs",
            "messaging.destination.name": "orders-traced",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.batch.message_count": 3,
            "vmsg.type": "order.created",
            "vmsg.version": attrs["vmsg.version"],
        }

    reference, _ = make_consumer()
    expected = reference._process(reference_event, fast=False)
    assert [(r.outcome, r.message_id, r.meta) for r in expected.records] == [
        (r.outcome, r.message_id, r.meta) for r in report.records
    ]


def test_a_tracestate_travels_with_the_traceparent(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """A producer span whose trace carries vendor state: tracestate is sent beside
    traceparent and comes back on the consumer's link."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "stateful")
    remote = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            is_remote=True,
            trace_flags=trace.TraceFlags(1),
            trace_state=trace.TraceState([("rojo", "00f067aa0ba902b7"), ("congo", "t61")]),
        )
    )
    with (
        trace.use_span(remote),
        tracer().start_as_current_span("send", kind=SpanKind.PRODUCER) as producer,
    ):
        pub = vm.Publisher(PRODUCER, sqs=sqs)
        pub.send(url, OrderV2(id="s", qty=1))
    (msg,) = receive_all(sqs, url, 1)
    assert (
        msg["MessageAttributes"]["tracestate"]["StringValue"] == "rojo=00f067aa0ba902b7,congo=t61"
    )
    spans.clear()
    consumer, seen = make_consumer()
    consumer.process(lambda_sqs_event([msg], arn), None)
    assert seen.calls[0][1].trace_context == expected_context(producer)
    (span,) = consumer_spans(spans)
    assert_linked_to(span, producer)
    assert span.links[0].context.trace_state.to_header() == "rojo=00f067aa0ba902b7,congo=t61"


@pytest.mark.parametrize("raw", [False, True], ids=["enveloped", "raw"])
def test_sns_to_sqs_carries_the_trace_raw_or_enveloped(
    aws: Emulator, spans: InMemorySpanExporter, raw: bool
) -> None:
    """publish and publish_batch -> SNS -> SQS: the trace rides in SNS's message attributes,
    inside the envelope or as SQS attributes with raw delivery."""
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic, _, url, arn = subscribe_queue(sns, sqs, "orders", "orders-sub", raw=raw)
    pub = vm.Publisher(PRODUCER, sns=sns)
    with tracer().start_as_current_span("publish", kind=SpanKind.PRODUCER) as producer:
        pub.publish(topic, OrderV1(id="a"), attributes={"tenant": "acme"})
        assert pub.publish_batch(topic, [OrderV3(id="b", qty=1)]).ok
    msgs = receive_all(sqs, url, 2)
    if not raw:
        envelope = json.loads(msgs[0]["Body"])
        assert envelope["MessageAttributes"]["traceparent"]["Type"] == "String"
    spans.clear()
    consumer, seen = make_consumer()
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert sorted(r.outcome for r in report.records) == ["tolerated", "upgraded"]
    assert [meta.trace_context for _, meta in seen.calls] == [expected_context(producer)] * 2
    got = consumer_spans(spans)
    assert len(got) == 2
    for span in got:
        assert_linked_to(span, producer)
        assert span.name == "process orders-sub"
        assert span.attributes is not None
        assert span.attributes["messaging.system"] == "aws_sqs"


def test_an_sns_trigger_names_the_topic(spans: InMemorySpanExporter) -> None:
    """SNS -> Lambda: messaging.system is SNS's and the destination the topic."""
    tc = vm.TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    event = sns_event(
        v2("n"),
        attributes={"traceparent": tc.traceparent},
        topic_arn="arn:aws:sns:eu-west-1:123456789012:order-events",
    )
    consumer, seen = make_consumer()
    consumer.handle_event(event, None)
    (span,) = consumer_spans(spans)
    assert span.name == "process order-events"
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "aws.sns"
    assert span.attributes["messaging.destination.name"] == "order-events"
    assert span.links[0].context.span_id == 0x00F067AA0BA902B7
    assert seen.calls[0][1].trace_context == tc


# ---- S3, Kinesis, EventBridge -----------------------------------------------------------


@pytest.mark.parametrize("embed", [False, True], ids=["metadata", "metadata-and-envelope"])
def test_s3_objects_carry_the_trace_in_their_metadata(
    aws: Emulator, spans: InMemorySpanExporter, embed: bool
) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="traced-bucket")
    pub = vm.Publisher(PRODUCER, s3=s3)
    with tracer().start_as_current_span("write", kind=SpanKind.PRODUCER) as producer:
        resp = pub.put_object("traced-bucket", "orders/1.json", OrderV1(id="o"), embed=embed)
    head = s3.head_object(Bucket="traced-bucket", Key="orders/1.json")
    assert head["Metadata"]["traceparent"] == expected_context(producer).traceparent
    spans.clear()
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(s3_event("traced-bucket", "orders/1.json", resp["ETag"]), None)
    assert [r.outcome for r in report.records] == ["upgraded"]
    meta = seen.calls[0][1]
    assert meta.trace_context == expected_context(producer)
    assert meta.carried_trace == expected_context(producer)
    (span,) = consumer_spans(spans)
    assert span.name == "process traced-bucket"
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "aws_s3"
    assert_linked_to(span, producer)


def test_kinesis_records_carry_the_trace_in_the_envelope(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """put_record and put_records write traceparent into the envelope's vmsg object, which
    a reader that predates it ignores."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    pub = vm.Publisher(PRODUCER, kinesis=kinesis)
    with tracer().start_as_current_span("stream", kind=SpanKind.PRODUCER) as producer:
        pub.put_record("orders", OrderV1(id="k1"), partition_key="p")
        assert pub.put_records("orders", [OrderV2(id="k2", qty=1)], partition_key="p").ok
    got, stream_arn, shard = read_shard(kinesis, "orders")
    head = json.loads(got[0]["Data"])["vmsg"]
    assert head["traceparent"] == expected_context(producer).traceparent
    assert unembed(got[0]["Data"])[0] == vm.Stamp(type="order.created", version=1)
    spans.clear()
    consumer, seen = make_consumer()
    report = consumer.process(lambda_kinesis_event(got, stream_arn, shard_id=shard), None)
    assert [r.outcome for r in report.records] == ["upgraded", "handled"]
    assert [meta.trace_context for _, meta in seen.calls] == [expected_context(producer)] * 2
    for span in consumer_spans(spans):
        assert span.name == "process orders"
        assert span.attributes is not None
        assert span.attributes["messaging.system"] == "aws_kinesis"
        assert span.attributes["messaging.batch.message_count"] == 2
        assert_linked_to(span, producer)


def test_eventbridge_events_carry_the_trace_in_the_envelope(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """put_events -> rule -> SQS target -> consumer: the trace is in Detail's vmsg object."""
    events = aws.client("events")
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "eb-traced")
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["orders-app"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
    pub = vm.Publisher(PRODUCER, events=events)
    with tracer().start_as_current_span("emit", kind=SpanKind.PRODUCER) as producer:
        assert pub.put_events([OrderV1(id="e1")], source="orders-app").ok
    msgs = receive_all(sqs, url, 1)
    detail = json.loads(msgs[0]["Body"])["detail"]
    assert detail["vmsg"]["traceparent"] == expected_context(producer).traceparent
    spans.clear()
    consumer, seen = make_consumer()
    consumer.process(lambda_sqs_event(msgs, arn), None)
    assert seen.calls[0][1].trace_context == expected_context(producer)
    (span,) = consumer_spans(spans)
    assert_linked_to(span, producer)


def test_an_eventbridge_trigger_has_no_destination(spans: InMemorySpanExporter) -> None:
    tc = vm.TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "order.created",
        "source": "orders-app",
        "detail": json.loads(PRODUCER.encode(OrderV2(id="e", qty=1)).embedded(tc)),
    }
    consumer, seen = make_consumer()
    consumer.handle_event(event, None)
    (span,) = consumer_spans(spans)
    assert span.name == "process"
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "aws_eventbridge"
    assert "messaging.destination.name" not in span.attributes
    assert seen.calls[0][1].trace_context == tc


# ---- what is and is not sent ------------------------------------------------------------


def test_without_an_active_span_the_wire_is_unchanged(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, "quiet")
    pub = vm.Publisher(PRODUCER, sqs=sqs, producer="p:1")
    assert active_trace() is None
    pub.send(url, OrderV2(id="q", qty=1), attributes={"tenant": "acme"})
    pub.send(url, OrderV2(id="r", qty=1), embed=True)
    msgs = receive_all(sqs, url, 2)
    names = sorted(msgs[0]["MessageAttributes"])
    assert names == ["tenant", "vmsg-producer", "vmsg-type", "vmsg-version"]
    enc = pub.encode(OrderV2(id="r", qty=1))
    assert msgs[1]["Body"] == enc.embedded().decode()


def test_the_trace_counts_toward_ten_attributes_and_the_error_names_each(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """7 user attributes + 3 of the stamp fit; inside a span the traceparent makes 11: the
    error, raised before any request, lists every attribute under who added it."""
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, "budget")
    pub = vm.Publisher(PRODUCER, sqs=sqs, producer="p:1")
    seven = {f"a{i}": "v" for i in range(7)}
    pub.send(url, OrderV2(id="fits", qty=1), attributes=seven)
    with (
        tracer().start_as_current_span("send", kind=SpanKind.PRODUCER),
        pytest.raises(vm.LimitExceededError) as info,
    ):
        pub.send_batch(url, [OrderV2(id="x", qty=1)], attributes=seven)
    assert str(info.value) == (
        f"send_batch to {url}, message 0: at most 10 message attributes are allowed, got 11 "
        "(the stamp: vmsg-type, vmsg-version, vmsg-producer; the trace context: traceparent; "
        "yours: a0, a1, a2, a3, a4, a5, a6) (the trace context is added while an "
        "OpenTelemetry span is active)"
    )
    assert info.value.limit == "message attribute count"
    assert len(receive_all(sqs, url, 1)) == 1  # only the message that fitted


def test_a_traceparent_of_your_own_is_sent_as_it_is(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, "manual")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="manual-bucket")
    pub = vm.Publisher(PRODUCER, sqs=sqs, s3=s3)
    mine = "00-11111111111111111111111111111111-2222222222222222-00"
    with tracer().start_as_current_span("send", kind=SpanKind.PRODUCER):
        pub.send(url, OrderV2(id="m", qty=1), attributes={"traceparent": mine}, embed=True)
        pub.put_object("manual-bucket", "k", OrderV2(id="m", qty=1), {"TraceParent": mine})
    (msg,) = receive_all(sqs, url, 1)
    assert msg["MessageAttributes"]["traceparent"]["StringValue"] == mine
    assert "tracestate" not in msg["MessageAttributes"]
    assert "traceparent" not in json.loads(msg["Body"])["vmsg"]
    assert s3.head_object(Bucket="manual-bucket", Key="k")["Metadata"] == {
        "vmsg-type": "order.created",
        "vmsg-version": "2",
        "traceparent": mine,
    }


# ---- consumer robustness ----------------------------------------------------------------


def test_malformed_trace_headers_are_ignored_and_the_record_handled(
    spans: InMemorySpanExporter,
) -> None:
    bad = sqs_event(v2("m1"), attributes={"traceparent": "00-not-a-trace", "tracestate": "x"})
    bad["Records"][0]["attributes"]["AWSTraceHeader"] = "Root=nonsense"
    envelope = sqs_event(v2("m2"), embed=True)
    body = json.loads(envelope["Records"][0]["body"])
    body["vmsg"]["traceparent"] = {"nested": "object"}
    envelope["Records"][0]["body"] = json.dumps(body)
    consumer, seen = make_consumer()
    report = consumer.process({"Records": bad["Records"] + envelope["Records"]}, None)
    assert [r.outcome for r in report.records] == ["handled", "handled"]
    assert [meta.trace_context for _, meta in seen.calls] == [None, None]
    got = consumer_spans(spans)
    assert len(got) == 2
    assert all(not span.links for span in got)


def test_an_aws_trace_header_links_the_span_when_no_traceparent_came(
    spans: InMemorySpanExporter,
) -> None:
    event = sqs_event(v2("x1"))
    event["Records"][0]["attributes"]["AWSTraceHeader"] = XRAY
    consumer, seen = make_consumer()
    consumer.process(event, None)
    expected = vm.TraceContext("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", 1)
    assert seen.calls[0][1].trace_context == expected
    (span,) = consumer_spans(spans)
    assert span.links[0].context.trace_id == int(expected.trace_id, 16)
    assert span.links[0].context.span_id == int(expected.span_id, 16)
    assert span.links[0].context.trace_flags.sampled


def test_a_handler_exception_is_recorded_on_its_span_and_fails_the_record(
    spans: InMemorySpanExporter,
) -> None:
    consumer = vm.Consumer(consumer_registry())
    consumer.handler(OrderV2)(Seen(fail_ids=("bad",)))
    report = consumer.process(sqs_event(v2("ok"), v2("bad")), None)
    assert [r.outcome for r in report.records] == ["handled", "failed"]
    assert isinstance(report.records[1].error, RuntimeError)
    ok, failed = consumer_spans(spans)
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    assert failed.events[0].attributes is not None
    assert failed.events[0].attributes["exception.type"] == "RuntimeError"


def test_a_kinesis_envelope_with_a_bad_trace_is_still_read(spans: InMemorySpanExporter) -> None:
    event = kinesis_event(v2("k"))
    consumer, seen = make_consumer()
    assert [r.outcome for r in consumer.process(event, None).records] == ["handled"]
    assert seen.calls[0][1].trace_context is None


def test_opentelemetry_without_an_sdk_starts_no_span() -> None:
    """The API imported but no provider set: handlers run directly and nothing is sent."""
    _reset_global_provider()
    consumer, seen = make_consumer()
    consumer.process(sqs_event(v2("p")), None)
    assert seen.ids == ["p"]
    assert active_trace() is None


def test_without_opentelemetry_imported_nothing_is_wrapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")

    def fn(msg: Any, meta: vm.Meta) -> None:
        return None

    assert traced_handler(fn, lambda: Invocation(1)) is fn
    assert active_trace() is None


# ---- the guide's example ----------------------------------------------------------------


def test_the_guide_example_links_the_handler_span_to_checkout(
    aws: Emulator, spans: InMemorySpanExporter
) -> None:
    """examples/tracing.py: checkout() sends inside a span, lambda_handler's span links it."""
    from pathlib import Path

    examples = str(Path(__file__).resolve().parent.parent / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import importlib

    ex = importlib.import_module("tracing")
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "checkout")
    ex.publisher = vm.Publisher(ex.registry, sqs=sqs)
    from orders import Money

    with ex.tracer.start_as_current_span("request") as request:
        ex.checkout(url, ex.OrderCreated(order_id="o-1", total=Money(1250, "EUR")))
    (checkout,) = [s for s in spans.get_finished_spans() if s.name == "checkout"]
    assert checkout.parent is not None
    assert checkout.parent.span_id == request.get_span_context().span_id
    spans.clear()
    event = lambda_sqs_event(receive_all(sqs, url, 1), arn)
    assert ex.lambda_handler(event, None) == {"batchItemFailures": []}
    (span,) = consumer_spans(spans)
    assert span.name == "process checkout"
    assert [link.context.span_id for link in span.links] == [checkout.context.span_id]


def test_per_message_trace_contexts_keep_the_fast_path(spans: InMemorySpanExporter) -> None:
    """Messages sent from different traces differ in their traceparent attribute only: the
    SQS fast path still finishes every record, and each span links to its own producer."""
    contexts = [vm.TraceContext(f"{i + 1:032x}", f"{i + 1:016x}", 1) for i in range(6)]
    event = sqs_event(*(v2(f"t{i}") for i in range(6)), attributes={"tenant": "acme"})
    for rec, tc in zip(event["Records"], contexts, strict=True):
        rec["messageAttributes"]["traceparent"] = {
            "dataType": "String",
            "stringValue": tc.traceparent,
            "stringListValues": [],
            "binaryListValues": [],
        }
    reference_event = copy.deepcopy(event)
    consumer, seen = make_consumer()
    report = consumer.process(event, None)
    assert consumer._fast_stats.fast == 6
    assert [meta.trace_context for _, meta in seen.calls] == contexts
    assert [span.links[0].context.trace_id for span in consumer_spans(spans)] == [
        int(tc.trace_id, 16) for tc in contexts
    ]
    reference, _ = make_consumer()
    expected = reference._process(reference_event, fast=False)
    assert [(r.outcome, r.message_id, r.meta) for r in expected.records] == [
        (r.outcome, r.message_id, r.meta) for r in report.records
    ]
