"""vm.Consumer on in-process Lambda events: routing, policies, outcomes, responses."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from consumer_models import (
    OrderV1,
    OrderV2,
    Seen,
    consumer_registry,
    invoice,
    v1,
    v2,
    v3,
    v4,
)

import versioned_msgs as vm
from versioned_msgs._core.attributes import attributes_digest
from versioned_msgs.testing import (
    eventbridge_event,
    kinesis_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)


def make(**options: Any) -> tuple[vm.Consumer, Seen]:
    consumer = vm.Consumer(consumer_registry(), **options)
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    return consumer, seen


def outcomes(report: vm.Report) -> list[str]:
    return [r.outcome for r in report.records]


def failed_ids(report: vm.Report) -> list[str]:
    assert report.response is not None
    return [f["itemIdentifier"] for f in report.response["batchItemFailures"]]


# ---- SQS ----


def test_sqs_current_version_is_handled_and_older_upgraded() -> None:
    """v2 goes to the v2 handler as-is; v1 is upgraded first; nothing is reported failed."""
    consumer, seen = make()
    report = consumer.process(sqs_event(v1("a"), v2("b", 5)), None)
    assert outcomes(report) == ["upgraded", "handled"]
    assert report.response == {"batchItemFailures": []}
    assert [m for m, _ in seen.calls] == [OrderV2(id="a", qty=1), OrderV2(id="b", qty=5)]
    first, second = (meta for _, meta in seen.calls)
    assert (first.version, first.upgraded_from, first.model_version) == (1, 1, 2)
    assert (second.version, second.upgraded_from) == (2, None)


def test_sqs_meta_carries_source_ids_user_attributes_and_record() -> None:
    """Meta: source sqs, the messageId, only the user's attributes as plain values, the record."""
    consumer, seen = make()
    event = sqs_event(v2(), attributes={"tenant": "acme", "priority": 3, "ratio": 0.5})
    report = consumer.process(event, None)
    meta = seen.calls[0][1]
    rec = event["Records"][0]
    assert meta.source == "sqs"
    assert meta.message_id == rec["messageId"] == report.records[0].message_id
    assert meta.attributes == {"tenant": "acme", "priority": 3, "ratio": 0.5}
    assert meta.record is rec
    assert meta.group_id is None
    assert report.records[0].meta is meta


def test_sqs_stamp_only_message_has_empty_attributes() -> None:
    """With only the stamp attributes, Meta.attributes is an empty dict."""
    consumer, seen = make()
    consumer.process(sqs_event(v2()), None)
    assert seen.calls[0][1].attributes == {}


def test_older_model_handler_routes_that_version_as_is() -> None:
    """A handler for the v1 model receives v1 payloads unconverted (routed); v2 goes to v2."""
    consumer, seen = make()
    legacy = Seen()
    consumer.handler(OrderV1)(legacy)
    report = consumer.process(sqs_event(v1("old"), v2("new")), None)
    assert outcomes(report) == ["routed", "handled"]
    assert legacy.calls[0][0] == OrderV1(id="old")
    assert seen.ids == ["new"]


def test_newer_readable_version_is_tolerated() -> None:
    """v3 declares readable_by=2: the v2 handler reads it, ignoring the new field."""
    consumer, seen = make()
    report = consumer.process(sqs_event(v3("c", 9)), None)
    assert outcomes(report) == ["tolerated"]
    assert seen.calls[0][0] == OrderV2(id="c", qty=9)
    meta = seen.calls[0][1]
    assert (meta.version, meta.model_version, meta.readable_by) == (3, 2, 2)
    assert meta.tolerated


@pytest.mark.parametrize(
    ("policy", "outcome", "reported"),
    [("retry", "retried", True), ("ignore", "ignored", False), ("reject", "rejected", True)],
)
def test_newer_unreadable_version_follows_on_newer(
    policy: str, outcome: str, reported: bool
) -> None:
    """v4 is not readable by v2 readers: on_newer decides, and retried/rejected are reported."""
    consumer, seen = make(on_newer=policy)
    event = sqs_event(v4("d"), v2("b"))
    report = consumer.process(event, None)
    assert outcomes(report) == [outcome, "handled"]
    assert seen.ids == ["b"]
    expected = [event["Records"][0]["messageId"]] if reported else []
    assert failed_ids(report) == expected
    err = report.records[0].error
    assert isinstance(err, vm.UnsupportedVersionError)
    assert "order.created v4 is newer than this reader" in str(err)
    assert report.records[0].meta is not None
    assert report.records[0].meta.version == 4


def test_mixed_batch_every_record_accounted_for_in_order() -> None:
    """v1, v2, newer readable v3, newer unreadable v4: four results in event order."""
    consumer, seen = make()
    event = sqs_event(v1("a"), v2("b"), v3("c"), v4("d"))
    report = consumer.process(event, None)
    assert outcomes(report) == ["upgraded", "handled", "tolerated", "retried"]
    assert [r.message_id for r in report.records] == [r["messageId"] for r in event["Records"]]
    assert failed_ids(report) == [event["Records"][3]["messageId"]]
    assert seen.ids == ["a", "b", "c"]


def test_unknown_type_follows_on_unknown() -> None:
    """A type the registry does not know is rejected by default, parked-free and reported."""
    consumer, _ = make()
    report = consumer.process(sqs_event(invoice()), None)
    assert outcomes(report) == ["rejected"]
    assert isinstance(report.records[0].error, vm.UnknownTypeError)
    consumer2, _ = make(on_unknown="ignore")
    assert outcomes(consumer2.process(sqs_event(invoice()), None)) == ["ignored"]


def test_registered_type_without_handler_is_unknown_to_this_consumer() -> None:
    """A type the registry knows but no handler takes follows on_unknown, naming the gap."""
    consumer = vm.Consumer(consumer_registry(invoices=True))
    consumer.handler(OrderV2)(Seen())
    report = consumer.process(sqs_event(invoice()), None)
    assert outcomes(report) == ["rejected"]
    assert "invoice.paid v1: no handler in this consumer" in str(report.records[0].error)


def test_ignore_drops_listed_versions_and_counts_them() -> None:
    """consumer.ignore(type, versions=[1]) acknowledges v1 without calling the handler."""
    consumer, seen = make()
    consumer.ignore("order.created", versions=[1])
    report = consumer.process(sqs_event(v1("a"), v2("b")), None)
    assert outcomes(report) == ["ignored", "handled"]
    assert seen.ids == ["b"]
    assert report.counts() == {
        ("order.created", 1, "ignored"): 1,
        ("order.created", 2, "handled"): 1,
    }


def test_ignore_without_versions_drops_every_version() -> None:
    """ignore(type) with no versions drops the whole type."""
    consumer, seen = make()
    consumer.ignore("order.created")
    assert outcomes(consumer.process(sqs_event(v1(), v2(), v4()), None)) == ["ignored"] * 3
    assert seen.calls == []


def test_handler_exception_fails_only_its_record() -> None:
    """A handler that raises makes that record failed; the others are still processed."""
    consumer = vm.Consumer(consumer_registry())
    seen = Seen(fail_ids=("bad",))
    consumer.handler(OrderV2)(seen)
    event = sqs_event(v2("ok1"), v2("bad"), v1("ok2"))
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "failed", "upgraded"]
    assert isinstance(report.records[1].error, RuntimeError)
    assert failed_ids(report) == [event["Records"][1]["messageId"]]
    assert consumer.handle_event(sqs_event(v2("ok")), None) == {"batchItemFailures": []}


def test_malformed_stamp_is_rejected() -> None:
    """A vmsg-version that is not a canonical number is a StampError: rejected, reported."""
    consumer, _ = make()
    event = sqs_event(v2("x"), v2("y"))
    event["Records"][0]["messageAttributes"]["vmsg-version"]["stringValue"] = "02"
    report = consumer.process(event, None)
    assert outcomes(report) == ["rejected", "handled"]
    assert isinstance(report.records[0].error, vm.StampError)
    assert report.records[0].meta is None


def test_payload_not_fitting_the_model_is_rejected() -> None:
    """A stamped body that does not decode into its model is rejected with a PayloadError."""
    consumer, _ = make()
    event = sqs_event(v2())
    event["Records"][0]["body"] = '{"id": 5}'
    report = consumer.process(event, None)
    assert outcomes(report) == ["rejected"]
    assert isinstance(report.records[0].error, vm.PayloadError)


def test_unversioned_follows_on_unversioned() -> None:
    """A record without a stamp is rejected by default; ignore acknowledges it."""
    consumer, _ = make()
    event = sqs_event(v2())
    event["Records"][0]["messageAttributes"] = {}
    report = consumer.process(event, None)
    assert outcomes(report) == ["rejected"]
    assert isinstance(report.records[0].error, vm.MissingStampError)
    consumer2, _ = make(on_unversioned="ignore")
    assert outcomes(consumer2.process(event, None)) == ["ignored"]


def test_on_unversioned_int_assumes_that_version() -> None:
    """on_unversioned=1 decodes an unstamped body as order.created v1 (then upgrades it)."""
    consumer, seen = make(on_unversioned=1)
    event = sqs_event(v1("legacy"))
    event["Records"][0]["messageAttributes"] = {}
    report = consumer.process(event, None)
    assert outcomes(report) == ["upgraded"]
    assert seen.calls[0][0] == OrderV2(id="legacy", qty=1)


def test_on_unversioned_int_is_ambiguous_with_two_types() -> None:
    """An assumed version needs one type: with two registered types and no
    unversioned_type, construction raises; naming the type settles it."""
    reg = consumer_registry(invoices=True)
    with pytest.raises(ValueError, match=r"ambiguous, the registry knows invoice\.paid, order"):
        vm.Consumer(reg, on_unversioned=1)
    consumer = vm.Consumer(reg, on_unversioned=1, unversioned_type="order.created")
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    event = sqs_event(v1("legacy"))
    event["Records"][0]["messageAttributes"] = {}
    assert outcomes(consumer.process(event, None)) == ["upgraded"]
    with pytest.raises(ValueError, match="not registered"):
        vm.Consumer(reg, on_unversioned=1, unversioned_type="nope")
    with pytest.raises(ValueError, match="only used with an integer"):
        vm.Consumer(reg, unversioned_type="order.created")


def test_consume_assumes_its_models_type() -> None:
    """@vm.consume with an integer on_unversioned assumes a version of its model's type."""
    got: list[OrderV2] = []

    @vm.consume(consumer_registry(invoices=True), OrderV2, on_unversioned=1)
    def handler(order: OrderV2, meta: vm.Meta) -> None:
        got.append(order)

    event = sqs_event(v1("old"))
    event["Records"][0]["messageAttributes"] = {}
    assert handler(event, None) == {"batchItemFailures": []}
    assert got == [OrderV2(id="old", qty=1)]


def test_bad_options_raise_at_construction() -> None:
    """Unknown policies, park without a queue and an assumed version past current raise."""
    reg = consumer_registry()
    with pytest.raises(ValueError, match="on_newer: expected one of"):
        vm.Consumer(reg, on_newer="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="park_queue_url"):
        vm.Consumer(reg, on_unknown="park")
    with pytest.raises(ValueError, match="newer than the registry knows"):
        vm.Consumer(reg, on_unversioned=7)


# ---- ordering: FIFO and Kinesis ----


def test_fifo_stops_group_at_first_failure_and_reports_later_records() -> None:
    """FIFO: after a failure, later records of the same group are not processed but reported."""
    consumer = vm.Consumer(consumer_registry())
    seen = Seen(fail_ids=("b",))
    consumer.handler(OrderV2)(seen)
    event = sqs_event(v2("a"), v2("b"), v2("c"), v1("d"), group_id="g1")
    other = sqs_event(v2("x"), group_id="g2")["Records"][0]
    event["Records"].insert(3, other)
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "failed", "retried", "handled", "retried"]
    ids = [r["messageId"] for r in event["Records"]]
    assert failed_ids(report) == [ids[1], ids[2], ids[4]]
    assert seen.ids == ["a", "b", "x"]
    assert report.records[0].meta is not None
    assert report.records[0].meta.group_id == "g1"
    assert "message group 'g1'" in str(report.records[2].error)


def test_kinesis_stops_at_first_failure_and_reports_sequence_numbers() -> None:
    """Kinesis: itemIdentifier is the sequence number; records after a failure are reported."""
    consumer, seen = make()
    event = kinesis_event(v2("a"), v4("b"), v2("c"))
    report = consumer.process(event, None)
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert outcomes(report) == ["handled", "retried", "retried"]
    assert failed_ids(report) == seqs[1:]
    assert seen.ids == ["a"]
    meta = seen.calls[0][1]
    assert (meta.source, meta.message_id, meta.group_id) == ("kinesis", seqs[0], "pk")


def test_kinesis_ignored_records_do_not_stop_the_shard() -> None:
    """Only failures stop a shard: an ignored record lets the next ones run."""
    consumer, _ = make(on_newer="ignore")
    report = consumer.process(kinesis_event(v4("b"), v2("c")), None)
    assert outcomes(report) == ["ignored", "handled"]
    assert failed_ids(report) == []


# ---- async sources ----


def test_sns_direct_processes_every_record_then_raises_naming_failures() -> None:
    """SNS→Lambda: every record runs, then RecordsFailedError names the failed ones."""
    consumer, seen = make()
    event = sns_event(v4("late"), v2("b"))
    with pytest.raises(vm.RecordsFailedError) as info:
        consumer.handle_event(event, None)
    assert seen.ids == ["b"]
    mid = event["Records"][0]["Sns"]["MessageId"]
    assert f"{mid} retried" in str(info.value)
    assert "1 of 2 sns records failed" in str(info.value)
    assert outcomes(info.value.report) == ["retried", "handled"]
    assert consumer.handle_event(sns_event(v1("ok")), None) is None


def test_sns_direct_meta_and_attributes() -> None:
    """SNS→Lambda: Type/Value attributes are read; Meta.source is sns with the MessageId."""
    consumer, seen = make()
    event = sns_event(v1("a"), attributes={"tenant": "acme", "n": 2})
    report = consumer.process(event, None)
    assert report.response is None
    meta = seen.calls[0][1]
    assert meta.source == "sns"
    assert meta.message_id == event["Records"][0]["Sns"]["MessageId"]
    assert meta.attributes == {"tenant": "acme", "n": 2}


def test_reject_on_async_sources_raises_too() -> None:
    """A rejected record in an async invocation raises, so it reaches the failure destination."""
    consumer, _ = make()
    with pytest.raises(vm.RecordsFailedError, match="rejected"):
        consumer.handle_event(sns_event(invoice()), None)


def test_eventbridge_direct_reads_the_embedded_envelope() -> None:
    """EventBridge→Lambda: detail is the embedded envelope; the id is the message id."""
    consumer, seen = make()
    event = eventbridge_event(v1("eb"))
    assert event["detail-type"] == "order.created"
    report = consumer.process(event, None)
    assert outcomes(report) == ["upgraded"]
    assert seen.calls[0][1].message_id == event["id"]
    assert seen.calls[0][1].source == "eventbridge"
    with pytest.raises(vm.RecordsFailedError):
        consumer.handle_event(eventbridge_event(v4()), None)


def test_eventbridge_event_inside_sqs_body() -> None:
    """EventBridge→SQS: the SQS body is the whole EventBridge event; it is unwrapped."""
    import json

    consumer, seen = make()
    eb = eventbridge_event(v2("via-eb"))
    event = sqs_event(v2())
    event["Records"][0]["body"] = json.dumps(eb)
    event["Records"][0]["messageAttributes"] = {}
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled"]
    assert seen.ids == ["via-eb"]


# ---- SNS -> SQS ----


def test_sns_sqs_enveloped_pretty_printed() -> None:
    """The pretty-printed SNS envelope is parsed as JSON; its Type/Value attributes stamp it."""
    consumer, seen = make()
    event = sns_sqs_event(v1("a"), v3("c"), attributes={"tenant": "acme"})
    assert event["Records"][0]["body"].startswith('{\n  "Type" : "Notification"')
    report = consumer.process(event, None)
    assert outcomes(report) == ["upgraded", "tolerated"]
    assert seen.ids == ["a", "c"]
    meta = seen.calls[0][1]
    assert meta.message_id == event["Records"][0]["messageId"]
    assert meta.attributes == {"tenant": "acme"}


def test_sns_sqs_raw_delivery() -> None:
    """Raw delivery: the message is the body and the stamp is in SQS message attributes."""
    consumer, seen = make()
    report = consumer.process(sns_sqs_event(v2("r"), raw=True), None)
    assert outcomes(report) == ["handled"]
    assert seen.ids == ["r"]


# ---- shapes ----


def test_unknown_event_shape_raises_a_library_error() -> None:
    """An event of no known shape raises EventShapeError naming what it found."""
    consumer, _ = make()
    with pytest.raises(vm.EventShapeError, match="expected a Lambda event"):
        consumer.process({"hello": "world"}, None)
    with pytest.raises(vm.EventShapeError, match="aws:dynamodb"):
        consumer.process({"Records": [{"eventSource": "aws:dynamodb"}]}, None)
    with pytest.raises(vm.EventShapeError, match="expected a JSON object"):
        consumer.process(["not", "an", "event"], None)


def test_empty_sqs_event_reports_nothing() -> None:
    """An event with no records is fine: no failures."""
    consumer, _ = make()
    assert consumer.handle_event({"Records": []}, None) == {"batchItemFailures": []}


def test_s3_test_event_in_sqs_is_skipped() -> None:
    """S3 sends s3:TestEvent when a notification is configured: acknowledged and skipped."""
    import json

    consumer, _ = make()
    event = sqs_event(v2())
    event["Records"][0]["messageAttributes"] = {}
    event["Records"][0]["body"] = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-01-01T00:00:00.000Z",
            "Bucket": "b",
            "RequestId": "X",
            "HostId": "Y",
        }
    )
    report = consumer.process(event, None)
    assert outcomes(report) == ["skipped"]
    assert failed_ids(report) == []


def test_s3_removed_object_is_skipped_without_reading() -> None:
    """ObjectRemoved notifications have nothing to read: skipped (no S3 call is made)."""
    consumer, _ = make(s3=object())
    report = consumer.process(s3_event("b", "k", event_name="ObjectRemoved:Delete"), None)
    assert outcomes(report) == ["skipped"]


def test_malformed_sqs_record_is_rejected_alone() -> None:
    """A record without a body is rejected (reported); its neighbours are processed."""
    consumer, _ = make()
    event = sqs_event(v2("a"), v2("b"))
    del event["Records"][0]["body"]
    report = consumer.process(event, None)
    assert outcomes(report) == ["rejected", "handled"]
    assert isinstance(report.records[0].error, vm.EventShapeError)
    assert failed_ids(report) == [event["Records"][0]["messageId"]]


def test_failure_without_an_identifier_fails_the_whole_batch() -> None:
    """A failing SQS record with no messageId cannot be reported alone: ``process`` does not
    raise, and the response lists it with an empty itemIdentifier, which Lambda treats as
    the whole batch failing (every record comes back; none is lost). Other failures are
    still listed by their ids."""
    consumer, _ = make()
    event = sqs_event(v2("a"), v4(), v4())
    del event["Records"][1]["messageId"]
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "rejected", "retried"]
    assert report.response == {
        "batchItemFailures": [
            {"itemIdentifier": ""},
            {"itemIdentifier": event["Records"][2]["messageId"]},
        ]
    }
    assert consumer.handle_event(event, None) == report.response


# ---- consume ----


def test_consume_decorator_makes_a_lambda_handler() -> None:
    """@vm.consume(registry, Model) turns fn(model, meta) into handler(event, context)."""
    got: list[OrderV2] = []

    @vm.consume(consumer_registry(), OrderV2, on_newer="ignore")
    def handler(order: OrderV2, meta: vm.Meta) -> None:
        got.append(order)

    assert handler(sqs_event(v1("a"), v4("z")), None) == {"batchItemFailures": []}
    assert got == [OrderV2(id="a", qty=1)]
    assert handler.__name__ == "handler"
    assert isinstance(handler.consumer, vm.Consumer)


def test_record_result_and_report_are_immutable() -> None:
    """RecordResult and Report are frozen value objects."""
    consumer, _ = make()
    report = consumer.process(sqs_event(v2()), None)
    with pytest.raises(AttributeError):
        report.records[0].outcome = "failed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        report.response = None  # type: ignore[misc]


def test_process_does_not_mutate_the_event() -> None:
    """The event is read, never changed."""
    consumer, _ = make()
    event = sns_sqs_event(v1(), v2())
    before = copy.deepcopy(event)
    consumer.process(event, None)
    assert event == before


def test_sqs_records_with_equal_attributes_get_their_own_meta_attributes() -> None:
    """The fast path's memo of the previous record's attributes never shares or leaks state."""
    consumer = vm.Consumer(consumer_registry())
    got: list[dict[str, Any]] = []

    @consumer.handler(OrderV2)
    def handle(order: OrderV2, meta: vm.Meta) -> None:
        got.append(dict(meta.attributes))
        meta.attributes["tenant"] = "mutated by the handler"

    event = sqs_event(v2("a", 1), v2("b", 2), v2("c", 3), attributes={"tenant": "acme"})
    event["Records"][2]["messageAttributes"]["tenant"]["stringValue"] = "other"
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled"] * 3
    assert got == [{"tenant": "acme"}, {"tenant": "acme"}, {"tenant": "other"}]


def test_sqs_handler_mutating_its_record_does_not_change_how_the_next_is_read() -> None:
    """A handler rewriting its raw record's stamp leaves the next record's reading alone."""
    consumer = vm.Consumer(consumer_registry())
    got: list[tuple[OrderV2, int]] = []

    @consumer.handler(OrderV2)
    def handle(order: OrderV2, meta: vm.Meta) -> None:
        got.append((order, meta.version))
        meta.record["messageAttributes"]["vmsg-version"]["stringValue"] = "2"

    report = consumer.process(sqs_event(v1("a"), v2("b", 5)), None)
    assert outcomes(report) == ["upgraded", "handled"]
    assert got == [(OrderV2(id="a", qty=1), 1), (OrderV2(id="b", qty=5), 2)]


def test_stamped_body_in_an_envelope_prefers_attributes() -> None:
    """A body sent with embed=True and stamp attributes: the envelope is removed, the
    attributes' stamp is used."""
    consumer, seen = make()
    report = consumer.process(sqs_event(v1("e"), embed=True), None)
    assert outcomes(report) == ["upgraded"]
    assert seen.calls[0][0] == OrderV2(id="e", qty=1)


class _Loose(msgspec.Struct):
    """A model every JSON object fits: nothing required."""

    id: str = ""
    qty: int = 0


@pytest.mark.parametrize("loose", [False, True], ids=["required-fields", "nothing-required"])
def test_a_uniform_batch_of_envelopes_is_unwrapped(loose: bool) -> None:
    """Stamped bodies sent with embed=True, a whole batch of them: each handler gets the
    envelope's data, whether or not an envelope would fit the model itself."""
    registry = vm.Registry()
    model: type[Any] = _Loose if loose else OrderV2
    registry.message("order.created", version=1)(model)
    consumer = vm.Consumer(registry)
    got: list[Any] = []
    consumer.handler(model)(lambda msg, meta: got.append(msg))
    encoded = [registry.encode(model(id=f"e{i}", qty=i)) for i in range(4)]
    report = consumer.process(sqs_event(*encoded, embed=True), None)
    assert outcomes(report) == ["handled"] * 4
    assert got == [model(id=f"e{i}", qty=i) for i in range(4)]


def test_a_uniform_batch_of_older_envelopes_is_unwrapped_before_upgrading() -> None:
    """v1 bodies sent with embed=True to a v2 handler: the upgrader sees each envelope's
    data, never the envelope, and every record is upgraded."""
    registry = vm.Registry()
    registry.message("order.created", version=1)(OrderV1)
    registry.message("order.created", version=2)(OrderV2)
    upgraded: list[dict[str, Any]] = []

    @registry.upgrader("order.created", from_version=1)
    def _(data: dict[str, Any]) -> dict[str, Any]:
        upgraded.append(dict(data))
        return {**data, "qty": 1}

    consumer = vm.Consumer(registry)
    got: list[Any] = []
    consumer.handler(OrderV2)(lambda msg, meta: got.append(msg))
    encoded = [registry.encode(OrderV1(id=f"e{i}")) for i in range(4)]
    report = consumer.process(sqs_event(*encoded, embed=True), None)
    assert outcomes(report) == ["upgraded"] * 4
    assert upgraded == [{"id": f"e{i}"} for i in range(4)]
    assert got == [OrderV2(id=f"e{i}", qty=1) for i in range(4)]


def test_embedded_envelope_alone_stamps_an_sqs_body() -> None:
    """No attributes, but an embedded envelope: the envelope's stamp is used."""
    consumer, seen = make()
    event = sqs_event(v2("env"), embed=True)
    event["Records"][0]["messageAttributes"] = {}
    assert outcomes(consumer.process(event, None)) == ["handled"]
    assert seen.ids == ["env"]


def test_newer_readable_version_tolerated_by_an_older_only_handler() -> None:
    """With only a v1 handler, v2 is newer than every handler: rejected as unreadable by v1
    (v2 declares no readable_by), following on_newer."""
    consumer = vm.Consumer(consumer_registry(), on_newer="reject")
    legacy = Seen()
    consumer.handler(OrderV1)(legacy)
    report = consumer.process(sqs_event(v1("a"), v2("b")), None)
    assert outcomes(report) == ["routed", "rejected"]
    assert "newest handler takes v1" in str(report.records[1].error)
    assert legacy.ids == ["a"]


def test_consumer_instance_is_a_lambda_handler() -> None:
    """Calling the consumer is handle_event: it can be the Lambda handler itself."""
    consumer, seen = make()
    assert consumer(sqs_event(v2("c")), None) == {"batchItemFailures": []}
    assert seen.ids == ["c"]


def test_fifo_recognised_by_sequence_number_without_fifo_arn() -> None:
    """A record with SequenceNumber and MessageGroupId is a FIFO record even if the ARN in a
    hand-written event lacks the .fifo suffix: order is kept."""
    consumer, seen = make()
    event = sqs_event(v4("x"), v2("y"), group_id="g")
    for rec in event["Records"]:
        rec["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:orders"
    assert outcomes(consumer.process(event, None)) == ["retried", "retried"]
    assert seen.calls == []
    standard = sqs_event(v4("x"), v2("y"), group_id="g")
    for rec in standard["Records"]:
        rec["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:orders"
        del rec["attributes"]["SequenceNumber"]
    assert outcomes(consumer.process(standard, None)) == ["retried", "handled"]


def test_pydantic_models_work_the_same() -> None:
    """pydantic models: handled, upgraded and tolerated exactly like msgspec ones."""
    import pydantic

    class P1(pydantic.BaseModel):
        id: str

    class P2(pydantic.BaseModel):
        id: str
        qty: int

    class P3(pydantic.BaseModel):
        id: str
        qty: int
        note: str = ""

    def up(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "qty": 1}

    reader = vm.Registry()
    reader.message("order.created", version=1)(P1)
    reader.message("order.created", version=2)(P2)
    reader.upgrader("order.created", from_version=1)(up)
    writer = vm.Registry()
    writer.message("order.created", version=1)(P1)
    writer.message("order.created", version=2)(P2)
    writer.message("order.created", version=3, readable_by=2)(P3)
    writer.upgrader("order.created", from_version=1)(up)
    writer.upgrader("order.created", from_version=2)(lambda d: {**d, "note": ""})
    consumer = vm.Consumer(reader)
    got: list[P2] = []
    consumer.handler(P2)(lambda m, meta: got.append(m))
    event = sqs_event(
        writer.encode(P1(id="a")),
        writer.encode(P2(id="b", qty=2)),
        writer.encode(P3(id="c", qty=3)),
    )
    assert outcomes(consumer.process(event, None)) == ["upgraded", "handled", "tolerated"]
    assert got == [P2(id="a", qty=1), P2(id="b", qty=2), P2(id="c", qty=3)]


# ---- the SQS fast paths give the general path's results ----


def _uniform(n: int = 4, **options: Any) -> dict[str, Any]:
    """A standard queue's batch of v2 orders m0..m{n-1}, equal attributes throughout."""
    return sqs_event(*(v2(f"m{i}", i) for i in range(n)), attributes={"tenant": "acme"}, **options)


def _change_attributes(rec: dict[str, Any], change: dict[str, Any]) -> None:
    """Set (Lambda-shaped) or, for None, delete the named message attributes of ``rec``."""
    for name, attr in change.items():
        if attr is None:
            del rec["messageAttributes"][name]
        else:
            rec["messageAttributes"][name] = {
                "stringListValues": [],
                "binaryListValues": [],
                **attr,
            }


def _with_digests(event: dict[str, Any]) -> dict[str, Any]:
    """Give every record the md5OfMessageAttributes SQS computes for its attributes."""
    for rec in event["Records"]:
        rec["md5OfMessageAttributes"] = attributes_digest(rec["messageAttributes"])
    return event


def _alone(consumer: vm.Consumer, rec: dict[str, Any]) -> vm.RecordResult:
    """The result of a record processed in an event of its own."""
    return consumer.process({"Records": [rec]}, None).records[0]


@pytest.mark.parametrize(
    "change",
    [
        {"vmsg-version": {"dataType": "String", "stringValue": "2"}},
        {"vmsg-version": {"dataType": "Number", "stringValue": "02"}},
        {"vmsg-version": {"dataType": "Number", "stringValue": "1"}},
        {"vmsg-type": {"dataType": "Number", "stringValue": "order.created"}},
        {"vmsg-type": {"dataType": "String", "stringValue": "invoice.paid"}},
        {"vmsg-producer": {"dataType": "Number", "stringValue": "7"}},
        {"vmsg-readable-by": {"dataType": "Number", "stringValue": "5"}},
        {"vmsg-content-type": {"dataType": "String", "stringValue": "text/plain"}},
        {"vmsg-version": None},
        {"vmsg-type": None},
        {"tenant": {"dataType": "Number", "stringValue": "12"}},
    ],
)
@pytest.mark.parametrize("digests", [False, True], ids=["no-digests", "sqs-digests"])
def test_a_record_differing_from_its_batch_is_read_on_its_own(
    change: dict[str, Any], digests: bool
) -> None:
    """One record whose attributes differ from the rest of an otherwise uniform batch (a stamp
    attribute's value or DataType, one added or missing) never reuses the others' stamp: its
    result is the one it gets alone, and its neighbours are handled. The same with every
    record carrying the md5OfMessageAttributes SQS computes."""
    consumer, _ = make()
    event = _uniform()
    odd = event["Records"][2]
    _change_attributes(odd, change)
    if digests:
        _with_digests(event)
    report = consumer.process(event, None)
    alone = _alone(make()[0], odd)
    got = report.records[2]
    assert (got.outcome, type(got.error), got.message_id) == (
        alone.outcome,
        type(alone.error),
        alone.message_id,
    )
    assert [r.outcome for i, r in enumerate(report.records) if i != 2] == ["handled"] * 3
    assert failed_ids(report) == ([] if alone.ok else [odd["messageId"]])
    if "tenant" in change:
        assert got.meta is not None
        assert got.meta.attributes == {"tenant": 12}


def test_uniform_batch_with_sqs_digests_is_handled_as_without() -> None:
    """A uniform batch carrying SQS's digests gives the results it gives without them, each
    record with its own id, record and copy of the user's attributes."""
    consumer, seen = make()
    plain = consumer.process(_uniform(5), None)
    event = _with_digests(_uniform(5))
    report = consumer.process(event, None)
    assert outcomes(report) == outcomes(plain) == ["handled"] * 5
    metas = [meta for _, meta in seen.calls[5:]]
    assert [m.message_id for m in metas] == [r["messageId"] for r in event["Records"]]
    assert [m.record for m in metas] == event["Records"]
    assert all(m.attributes == {"tenant": "acme"} for m in metas)
    assert len({id(m.attributes) for m in metas}) == 5
    assert [m.version for m in metas] == [2] * 5


def test_made_up_digests_are_not_trusted() -> None:
    """Equal md5OfMessageAttributes that are not SQS's digest of the attributes (an event
    built by hand) say nothing: each record is read from its own attributes."""
    consumer, _ = make()
    event = _uniform()
    _change_attributes(
        event["Records"][1], {"vmsg-version": {"dataType": "Number", "stringValue": "1"}}
    )
    for rec in event["Records"]:
        rec["md5OfMessageAttributes"] = "0" * 32
    assert outcomes(consumer.process(event, None)) == ["handled", "upgraded", "handled", "handled"]
    # the right digest for the first record, copied onto a record whose attributes differ
    event = _with_digests(_uniform())
    first = event["Records"][0]
    _change_attributes(first, {"vmsg-version": {"dataType": "Number", "stringValue": "1"}})
    assert outcomes(consumer.process(event, None)) == ["upgraded"] + ["handled"] * 3


def test_a_stamp_attribute_mixing_shapes_is_read_one_way_by_both_paths() -> None:
    """Regression: a hand-built record whose vmsg-version carries Lambda's ``stringValue``
    "2" and boto3's ``StringValue`` "1" is read as v2 (the shape its ``dataType`` key names)
    by the stamp parser and the fast path alike, so the clean v2 record after it is not
    taken for v1 and upgraded (its qty stays 5)."""
    consumer, seen = make()
    event = sqs_event(v2("m0", 3), v2("m1", 5))
    event["Records"][0]["messageAttributes"]["vmsg-version"]["StringValue"] = "1"
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "handled"]
    assert [msg.qty for msg, _ in seen.calls] == [3, 5]
    assert outcomes(consumer._process(event, fast=False)) == ["handled", "handled"]


def test_a_stamp_error_in_an_otherwise_uniform_batch_is_rejected() -> None:
    """A malformed vmsg-version DataType in one record: rejected with a StampError."""
    consumer, _ = make()
    event = _uniform()
    event["Records"][1]["messageAttributes"]["vmsg-version"]["dataType"] = "String"
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "rejected", "handled", "handled"]
    assert isinstance(report.records[1].error, vm.StampError)
    assert failed_ids(report) == [event["Records"][1]["messageId"]]


def test_uniform_batch_decode_and_handler_failures_stay_with_their_records() -> None:
    """In a uniform batch a body not fitting the model is rejected and a handler's exception
    fails its record; every other record is handled, in order."""
    consumer = vm.Consumer(consumer_registry())
    seen = Seen(fail_ids=("m3",))
    consumer.handler(OrderV2)(seen)
    event = _uniform(5)
    event["Records"][1]["body"] = '{"id":"m1","qty":"one"}'
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled", "rejected", "handled", "failed", "handled"]
    assert isinstance(report.records[1].error, vm.PayloadError)
    assert isinstance(report.records[3].error, RuntimeError)
    assert failed_ids(report) == [event["Records"][i]["messageId"] for i in (1, 3)]
    assert seen.ids == ["m0", "m2", "m3", "m4"]


def test_uniform_batch_envelope_and_unusual_bodies_take_the_general_path() -> None:
    """An embedded-envelope body, a body whose first key sorts after 'vmsg' and one with
    leading whitespace, among plain ones: each read as the general path reads it."""
    consumer, seen = make()
    event = _uniform(4)
    recs = event["Records"]
    recs[1]["body"] = v2("m1", 1).embedded().decode()
    recs[2]["body"] = '{"zz":0,"id":"m2","qty":2}'
    recs[3]["body"] = ' {"id":"m3","qty":3}'
    report = consumer.process(event, None)
    assert outcomes(report) == ["handled"] * 4
    assert seen.ids == ["m0", "m1", "m2", "m3"]


def test_uniform_batch_with_bodies_sorting_after_vmsg() -> None:
    """Bodies whose first key sorts after 'vmsg' are plain payloads too."""
    consumer, seen = make()
    event = _uniform(3)
    for i, rec in enumerate(event["Records"]):
        rec["body"] = f'{{"zz":{i},"id":"m{i}","qty":{i}}}'
    assert outcomes(consumer.process(event, None)) == ["handled"] * 3
    assert seen.ids == ["m0", "m1", "m2"]


def test_standard_queue_group_ids_reach_meta() -> None:
    """A standard (fair) queue's MessageGroupId is the Meta's group_id; nothing stops."""
    consumer = vm.Consumer(consumer_registry())
    seen = Seen(fail_ids=("m0",))
    consumer.handler(OrderV2)(seen)
    event = _uniform(3, group_id="tenant-1", queue_arn="arn:aws:sqs:eu-west-1:1:orders")
    for rec in event["Records"]:
        del rec["attributes"]["SequenceNumber"]
    report = consumer.process(event, None)
    assert outcomes(report) == ["failed", "handled", "handled"]
    assert [meta.group_id for _, meta in seen.calls] == ["tenant-1"] * 3


def test_outcomes_follow_each_record_across_stamps() -> None:
    """Records at different versions, interleaved: each has its own outcome and meta."""
    consumer, seen = make()
    report = consumer.process(sqs_event(v2("a"), v2("b"), v1("c"), v1("d"), v2("e")), None)
    assert outcomes(report) == ["handled", "handled", "upgraded", "upgraded", "handled"]
    assert [r.meta.upgraded_from if r.meta else 0 for r in report.records] == [
        None,
        None,
        1,
        1,
        None,
    ]
    assert [r.meta for r in report.records] == [meta for _, meta in seen.calls]


def test_uniform_batch_of_older_versions_is_upgraded() -> None:
    """A whole batch at an older version: every record upgraded, each its own meta."""
    consumer, seen = make()
    report = consumer.process(sqs_event(*(v1(f"m{i}") for i in range(3))), None)
    assert outcomes(report) == ["upgraded"] * 3
    assert [r.meta.message_id if r.meta else None for r in report.records] == [
        meta.message_id for _, meta in seen.calls
    ]
    assert len({id(meta.attributes) for _, meta in seen.calls}) == 3


def test_report_is_an_immutable_value() -> None:
    """A Report compares by value, copies, has a readable repr and refuses changes."""
    consumer, _ = make()
    report = consumer.process(_uniform(3), None)
    assert report.records is report.records
    same = vm.Report(list(report.records), report.response, report.source)
    assert same == report
    assert copy.copy(report) == report
    assert report != vm.Report(report.records[:1], report.response, report.source)
    assert repr(report).startswith("Report(records=[RecordResult(outcome='handled'")
    assert repr(report).endswith("response={'batchItemFailures': []}, source='sqs')")
    with pytest.raises(AttributeError):
        report.source = "sns"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del report.response  # type: ignore[misc]
    with pytest.raises(AttributeError):
        report.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        hash(report)


def test_records_that_keep_differing_each_get_their_own_stamp_and_attributes() -> None:
    """A per-message attribute and interleaved versions (the record-by-record path, which
    snapshots only some of the differing records): every record read as it is."""
    consumer, seen = make()
    event = sqs_event(v2("a"), v1("b"), v2("c"), v2("d"), v1("e"), v2("f"), v2("g"))
    for i, rec in enumerate(event["Records"]):
        rec["messageAttributes"]["trace"] = {"dataType": "String", "stringValue": f"t{i}"}
    report = consumer.process(event, None)
    versions = [2, 1, 2, 2, 1, 2, 2]
    assert outcomes(report) == ["upgraded" if v == 1 else "handled" for v in versions]
    assert [(meta.version, meta.attributes) for _, meta in seen.calls] == [
        (v, {"trace": f"t{i}"}) for i, v in enumerate(versions)
    ]


def _traced(n: int = 5, *, numbers: bool = True) -> dict[str, Any]:
    """A uniform batch but for a per-message attribute (a trace id, a Number sequence)."""
    event = _uniform(n)
    for i, rec in enumerate(event["Records"]):
        attrs = rec["messageAttributes"]
        attrs["trace"] = {"dataType": "String", "stringValue": f"t{i}"}
        if numbers:
            attrs["seq"] = {"dataType": "Number", "stringValue": str(i)}
    return event


@pytest.mark.parametrize("numbers", [True, False], ids=["string-and-number", "strings"])
def test_per_message_attributes_reach_each_records_meta(numbers: bool) -> None:
    """Equal stamps, user attributes that differ per message: each Meta has its own, String
    attributes alone (read a name at a time) or with a Number one (read record by record)."""
    consumer, seen = make()
    report = consumer.process(_traced(numbers=numbers), None)
    assert outcomes(report) == ["handled"] * 5
    expected = [{"tenant": "acme", "trace": f"t{i}"} for i in range(5)]
    if numbers:
        expected = [{**attrs, "seq": i} for i, attrs in enumerate(expected)]
    assert [meta.attributes for _, meta in seen.calls] == expected
    assert len({id(meta.attributes) for _, meta in seen.calls}) == 5


@pytest.mark.parametrize(
    "change",
    [
        {"vmsg-version": {"dataType": "String", "stringValue": "2"}},
        {"vmsg-producer": {"dataType": "String", "stringValue": "someone-else"}},
        {"vmsg-readable-by": {"dataType": "Number", "stringValue": "1"}},
        {"trace": None},
        {"extra": {"dataType": "String", "stringValue": "x"}},
    ],
)
def test_per_message_attributes_with_one_record_differing_otherwise(
    change: dict[str, Any],
) -> None:
    """In a batch whose user attributes vary per message, a record whose stamp attributes
    or attribute names differ gets the result it gets alone; the others are handled."""
    consumer, _ = make()
    event = _traced()
    odd = event["Records"][3]
    _change_attributes(odd, change)
    report = consumer.process(event, None)
    alone = _alone(make()[0], odd)
    got = report.records[3]
    assert (got.outcome, type(got.error)) == (alone.outcome, type(alone.error))
    assert (got.meta is None) == (alone.meta is None)
    assert [r.outcome for i, r in enumerate(report.records) if i != 3] == ["handled"] * 4
    if got.meta is not None and alone.meta is not None:
        assert (got.meta.producer, got.meta.attributes) == (
            alone.meta.producer,
            alone.meta.attributes,
        )


# ---- one record at a time (process_record, record_handler) ----


class _Wrapped:
    """A record object in the manner of Powertools' data classes: the dict is ``raw_event``."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw_event = raw


def test_process_record_handles_and_upgrades_one_sqs_record() -> None:
    """One SQS record each: v1 is upgraded, v2 handled; the Meta carries that record."""
    consumer, seen = make()
    rec1 = sqs_event(v1("a"))["Records"][0]
    rec2 = sqs_event(v2("b", 5))["Records"][0]
    first = consumer.process_record(rec1)
    second = consumer.process_record(rec2, None)
    assert [r.outcome for r in first + second] == ["upgraded", "handled"]
    assert first[0].message_id == rec1["messageId"]
    assert seen.ids == ["a", "b"]
    assert seen.calls[0][1].record is rec1
    assert consumer.record_handler(rec2) is None  # success: nothing raised


def test_process_record_accepts_other_sources_and_emits_no_metrics() -> None:
    """SNS and Kinesis records and an EventBridge event work alone; the metrics sink is
    left to the caller's invocation (nothing emitted per record)."""
    metrics = vm.MemoryMetrics()
    consumer, seen = make(metrics=metrics)
    sns = sns_event(v2("s"))["Records"][0]
    kin = kinesis_event(v1("k"))["Records"][0]
    got = [
        consumer.process_record(sns)[0].outcome,
        consumer.process_record(kin)[0].outcome,
        consumer.process_record(eventbridge_event(v2("e")))[0].outcome,
    ]
    assert got == ["handled", "upgraded", "handled"]
    assert seen.ids == ["s", "k", "e"]
    assert metrics.calls == 0


def test_process_record_takes_an_object_with_raw_event() -> None:
    """A record object exposing ``raw_event`` is read through it."""
    consumer, seen = make()
    rec = sqs_event(v2("w"))["Records"][0]
    results = consumer.process_record(_Wrapped(rec))  # type: ignore[arg-type]
    assert [(r.outcome, r.message_id) for r in results] == [("handled", rec["messageId"])]
    assert seen.ids == ["w"]


def test_process_record_refuses_a_whole_event() -> None:
    """A whole event (a Records list) is not one record: EventShapeError, nothing handled."""
    consumer, seen = make()
    with pytest.raises(vm.EventShapeError, match="Records"):
        consumer.process_record(sqs_event(v2("a"), v2("b")))
    assert seen.calls == []


def test_record_handler_raises_records_failed_error_naming_the_record() -> None:
    """A failing handler: record_handler raises RecordsFailedError naming the message and the
    handler's exception type (not its text, which may hold payload values), and its report
    holds the record's result; a v4 message (retried) raises too."""
    consumer = vm.Consumer(consumer_registry())
    consumer.handler(OrderV2)(Seen(fail_ids=("bad",)))
    rec = sqs_event(v2("bad"))["Records"][0]
    with pytest.raises(vm.RecordsFailedError) as info:
        consumer.record_handler(rec)
    assert rec["messageId"] in str(info.value)
    assert "(RuntimeError)" in str(info.value)
    assert "handler refused bad" not in str(info.value)
    report = info.value.report
    assert [(r.outcome, r.message_id) for r in report.records] == [("failed", rec["messageId"])]
    assert report.source == "sqs"
    newer = sqs_event(v4("d"))["Records"][0]
    with pytest.raises(vm.RecordsFailedError, match="retried"):
        consumer.record_handler(_Wrapped(newer))  # type: ignore[arg-type]


def test_process_record_s3_notification_in_sqs_gives_one_result_per_object() -> None:
    """An SQS record carrying an S3 notification of two objects gives two results: the
    removed object is skipped, the created one fails (this S3 client cannot read), and
    record_handler then marks the record failed."""
    import json

    consumer, _ = make(s3=object())
    s3_records = [
        s3_event("b", "k1", event_name="ObjectCreated:Put")["Records"][0],
        s3_event("b", "k2", event_name="ObjectRemoved:Delete")["Records"][0],
    ]
    rec = sqs_event(v2())["Records"][0]
    rec["messageAttributes"] = {}
    rec["body"] = json.dumps({"Records": s3_records})
    results = consumer.process_record(rec)
    # both reported by the SQS message id (what batchItemFailures would name)
    assert [(r.outcome, r.message_id) for r in results] == [
        ("failed", rec["messageId"]),
        ("skipped", rec["messageId"]),
    ]
    with pytest.raises(vm.RecordsFailedError, match="1 of 2 sqs records failed"):
        consumer.record_handler(rec)
