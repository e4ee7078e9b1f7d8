"""The attacks and operator mishaps of the hardening work, at the scale of a real queue.

Each test runs on the moto server (the ``aws`` fixture) with real boto3 clients, faults from
botocore event hooks, and counts what matters at the end: every message sent is handled
exactly once, or ends where it must (the DLQ, the park queue); ``lost`` and ``handled
twice`` are both asserted to be 0.

- **Confused deputy**: messages whose bodies are extended-client pointers (both classes) or
  S3 notifications (in an SQS body, an SNS envelope, an EventBridge event) naming another
  tenant's bucket or an access point, and notifications listing thousands of objects.
- **Lambda deadlines**: invocations whose time runs out mid-batch (the consumer's clock,
  ``versioned_msgs._aws.clock``, moved by the handlers instead of sleeping).
- **Heartbeat**: several ``versioned-msgs worker`` loops on one queue, handlers longer than
  the visibility timeout.
- **Redrive through faults**: parked messages (some in the wrapped form) moved back while
  ``SendMessageBatch`` calls fail whole, are throttled, or fail entry by entry.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from faults import EntryFaults, Faults
from queues import lambda_turn, make_queue, receive, receive_all
from reliability_models import (
    SOAK,
    InvoiceV1,
    InvoiceV2,
    OrderV1,
    OrderV2,
    new_registry,
    old_registry,
)

import versioned_msgs as vm
from versioned_msgs._aws import clock
from versioned_msgs._cli.redrive import RedriveResult, redrive
from versioned_msgs._cli.worker import Worker
from versioned_msgs._core.envelope import LEGACY_POINTER_CLASS, POINTER_CLASS
from versioned_msgs.testing import Emulator, kinesis_event, s3_event

MINE = "mine"
THEIRS = "tenant-b"
ACCESS_POINT = "arn:aws:s3-object-lambda:us-east-1:999999999999:accesspoint/tenant-b"


def lost_and_twice(sent: list[str], handled: list[str], elsewhere: list[str]) -> tuple[int, int]:
    """``(lost, handled twice)``: messages neither handled nor found ``elsewhere`` (a DLQ, a
    park queue), and messages handled more than once."""
    seen = Counter(handled)
    lost = len(set(sent) - set(seen) - set(elsewhere))
    twice = sum(1 for n in seen.values() if n > 1)
    return lost, twice


# ---- confused deputy: S3 reads only where allowed ------------------------------------------


def _s3_requests(s3: Any) -> list[tuple[str, str, str]]:
    """Every request made through ``s3``, as (operation, bucket, key)."""
    calls: list[tuple[str, str, str]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, str(params.get("Bucket")), str(params.get("Key"))))

    s3.meta.events.register("provide-client-params.s3", note)
    return calls


def _pointer(enc: vm.Encoded, cls: str, bucket: str, key: str, size_attr: str) -> dict[str, Any]:
    """SendMessage arguments for an extended-client pointer, as the official clients write
    it: the pointer class and location as the body, the size attribute beside the stamp."""
    return {
        "MessageBody": json.dumps([cls, {"s3BucketName": bucket, "s3Key": key}]),
        "MessageAttributes": {
            **enc.stamp.to_message_attributes(),
            size_attr: {"DataType": "Number", "StringValue": str(len(enc.body))},
        },
    }


def _in_sns(notification: dict[str, Any]) -> dict[str, Any]:
    """An S3 notification as an SNS topic delivers it to a queue (raw delivery off)."""
    return {
        "Type": "Notification",
        "MessageId": "forged-sns",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
        "Message": json.dumps(notification),
        "Timestamp": "2026-01-01T00:00:00.000Z",
    }


def _in_eventbridge(bucket: str, key: str, etag: str) -> dict[str, Any]:
    """An EventBridge "Object Created" event for ``bucket``/``key``."""
    return {
        "version": "0",
        "id": "forged-eb",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "etag": etag}},
    }


def _fan_out(bucket: str, keys: int) -> str:
    """An S3 notification body listing ``keys`` objects (the smallest records the event
    reader accepts), the shape of the 292 KB message that once caused 4,000 reads."""
    one = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}
    records = [
        {**one, "s3": {"bucket": {"name": bucket}, "object": {"key": f"k{i}"}}} for i in range(keys)
    ]
    return json.dumps({"Records": records}, separators=(",", ":"))


FAN_OUT = 8_000 if SOAK else 2_000
COPIES = 10 if SOAK else 1


def test_pointers_and_notifications_naming_another_tenant_are_refused_on_a_real_queue(
    aws: Emulator,
) -> None:
    """A queue (redrive policy: 2 receives, then the DLQ) carrying stamped messages, pointers
    into the consumer's bucket (both pointer classes, both size attributes) and a
    notification for it, beside forged ones: pointers into another tenant's bucket and into
    an Object Lambda access point, that tenant's notifications in an SQS body, in an SNS
    envelope and as an EventBridge event, and two notifications listing thousands of
    objects (one for each bucket). Consumed as Lambda would with ``allowed_buckets=[mine]``:
    the allowed messages are handled exactly once; every delivery of a forged one is one
    rejected record (BucketNotAllowedError, or LimitExceededError for max_s3_records), each
    ends in the DLQ, no request ever reaches the other bucket or the access point, and the
    only S3 reads are of the allowed objects, once each. Lost 0, handled twice 0."""
    setup_s3, sqs = aws.client("s3"), aws.client("sqs")
    dlq, dlq_arn = make_queue(sqs, "deputy-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url, arn = make_queue(sqs, "deputy", RedrivePolicy=policy)
    reg = new_registry()
    pub = vm.Publisher(reg, s3=setup_s3, sqs=sqs)
    for bucket in (MINE, THEIRS):
        setup_s3.create_bucket(Bucket=bucket)
    etags: dict[tuple[str, str], str] = {}
    for bucket, who in ((MINE, "mine"), (THEIRS, "secret")):
        for i in range(4):
            key = f"{who}-{i}"
            etags[bucket, key] = pub.put_object(bucket, key, OrderV2(id=key, qty=i))["ETag"]

    allowed: dict[str, dict[str, Any]] = {}  # label -> SendMessage arguments
    forged: dict[str, dict[str, Any]] = {}
    forms = [(POINTER_CLASS, "ExtendedPayloadSize"), (LEGACY_POINTER_CLASS, "SQSLargePayloadSize")]
    for copy in range(COPIES):
        for i in range(20):
            enc = reg.encode(OrderV2(id=f"ok-{copy}-{i}", qty=i))
            allowed[f"ok-{copy}-{i}"] = {
                "MessageBody": enc.body.decode(),
                "MessageAttributes": enc.stamp.to_message_attributes(),
            }
        for i, (cls, size) in enumerate(forms):
            enc = reg.encode(OrderV2(id="pointer", qty=1))
            allowed[f"mine-{i}#{copy}"] = _pointer(enc, cls, MINE, f"mine-{i}", size)
            forged[f"theirs-{i}#{copy}"] = _pointer(enc, cls, THEIRS, f"secret-{i}", size)
            forged[f"ap-{i}#{copy}"] = _pointer(enc, cls, ACCESS_POINT, f"secret-{i}", size)
        mine_note = s3_event(MINE, "mine-2", etag=etags[MINE, "mine-2"])
        allowed[f"mine-2#{copy}"] = {"MessageBody": json.dumps(mine_note)}
        their_note = s3_event(THEIRS, "secret-2", etag=etags[THEIRS, "secret-2"])
        forged[f"theirs-s3#{copy}"] = {"MessageBody": json.dumps(their_note)}
        forged[f"theirs-sns#{copy}"] = {"MessageBody": json.dumps(_in_sns(their_note))}
        bridge = _in_eventbridge(THEIRS, "secret-3", etags[THEIRS, "secret-3"])
        forged[f"theirs-eb#{copy}"] = {"MessageBody": json.dumps(bridge)}
        for bucket in (MINE, THEIRS):
            forged[f"fan-out-{bucket}#{copy}"] = {"MessageBody": _fan_out(bucket, FAN_OUT)}
    assert len(forged[f"fan-out-{MINE}#0"]["MessageBody"]) < 1_048_576  # one SQS message
    label_of = {
        sqs.send_message(QueueUrl=url, **args)["MessageId"]: label
        for label, args in [*allowed.items(), *forged.items()]
    }

    s3 = aws.client("s3")
    requests = _s3_requests(s3)
    handled: list[str] = []
    consumer = vm.Consumer(reg, s3=s3, allowed_buckets=[MINE])
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    labels_handled: list[str] = []
    refusals: Counter[tuple[str, str]] = Counter()
    while (report := lambda_turn(sqs, url, arn, consumer)) is not None:
        for r in report.records:
            label = label_of[str(r.message_id)]
            if r.outcome == "handled":
                labels_handled.append(label)
                continue
            assert label in forged, (label, r.outcome, r.error)
            assert r.outcome == "rejected"
            assert isinstance(r.error, vm.BucketNotAllowedError | vm.LimitExceededError)
            refusals[label.split("#")[0], type(r.error).__name__] += 1

    in_dlq = [label_of[m["MessageId"]] for m in receive_all(sqs, dlq)]
    assert sorted(in_dlq) == sorted(forged)
    assert sorted(labels_handled) == sorted(allowed)
    assert all(h.startswith(("ok-", "mine-")) for h in handled)  # no tenant-b order
    assert len(handled) == len(allowed)
    bucket_refused = ["theirs-0", "theirs-1", "ap-0", "ap-1", "theirs-s3", "theirs-sns"]
    assert refusals == {  # every delivery (2 each) of every forged message, refused
        **{(f, "BucketNotAllowedError"): 2 * COPIES for f in [*bucket_refused, "theirs-eb"]},
        **{(f"fan-out-{b}", "LimitExceededError"): 2 * COPIES for b in (MINE, THEIRS)},
    }
    assert {bucket for _, bucket, _ in requests} == {MINE}
    reads = Counter(key for op, _, key in requests if op == "GetObject")
    assert reads == {f"mine-{i}": COPIES for i in range(3)}
    assert lost_and_twice(list(label_of.values()), labels_handled, in_dlq) == (0, 0)
    print(
        f"\nconfused deputy: sent {len(label_of)}, handled {len(labels_handled)}, "
        f"refused {sum(refusals.values())} deliveries of {len(forged)} forged messages "
        f"(fan-out {FAN_OUT} objects each), S3 requests to other buckets 0, lost 0, twice 0"
    )


# ---- Lambda deadlines --------------------------------------------------------------------


class LambdaTime:
    """The consumer's clock and Lambda's context in one: ``monotonic`` replaces
    ``versioned_msgs._aws.clock.monotonic``, handlers advance ``now``, and each invocation
    starts with :meth:`invocation`'s ``timeout_ms`` left."""

    def __init__(self) -> None:
        self.now = 5_000.0
        self.ends = self.now

    def monotonic(self) -> float:
        return self.now

    def invocation(self, timeout_ms: int) -> LambdaTime:
        self.ends = self.now + timeout_ms / 1000
        return self

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - self.now) * 1000)


class LambdaTimedOut(BaseException):
    """Lambda stopping an invocation at its timeout: nothing of the batch is deleted."""


DEADLINE_MESSAGES = 600 if SOAK else 60


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_records_deferred_at_the_deadline_come_back_and_are_handled_once(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, fifo: bool
) -> None:
    """A queue consumed as Lambda would, each invocation given 3 s and the default 1 s
    margin, handlers taking 0.25 to 0.85 s of the consumer's clock (some failing once):
    every invocation runs out of time mid-batch. A handler still running at the timeout
    would be Lambda killing the invocation (the whole batch back, the records it handled
    handled again); that never happens. Records not started are ``deferred``, named in
    batchItemFailures, come back from SQS and are handled later: each message is handled
    exactly once, no deferred record was ever started, and (FIFO) each group is handled in
    send order. Lost 0, handled twice 0."""
    time_ = LambdaTime()
    monkeypatch.setattr(clock, "monotonic", time_.monotonic)
    sqs = aws.client("sqs")
    name, attrs = ("timed.fifo", {"FifoQueue": "true"}) if fifo else ("timed", {})
    url, arn = make_queue(sqs, name, **attrs)
    msgs = [OrderV1(id=f"d{i:04d}", qty=i) for i in range(DEADLINE_MESSAGES)]
    sent = vm.Publisher(new_registry(), sqs=sqs, backoff=0).send_batch(
        url,
        msgs,
        group_id=(lambda m: f"g{int(m.id[1:]) % 3}") if fifo else None,
        dedup_id=(lambda m: m.id) if fifo else None,
    )
    assert sent.ok
    fail_once = {m.id for m in msgs if int(m.id[1:]) % 7 == 3}
    started: Counter[str] = Counter()
    handled: list[str] = []

    def handle(order: OrderV2, meta: vm.Meta) -> None:
        started[order.id] += 1
        time_.now += (250 + 150 * (int(order.id[1:]) % 5)) / 1000
        if time_.now > time_.ends:
            raise LambdaTimedOut(order.id)
        if order.id in fail_once and started[order.id] == 1:
            raise RuntimeError("downstream timed out")
        handled.append(order.id)

    consumer = vm.Consumer(new_registry())
    consumer.handler(OrderV2)(handle)
    outcomes: Counter[str] = Counter()
    turns = timed_out = 0
    while turns < 5 * DEADLINE_MESSAGES:  # (a bound: the queue empties long before)
        turns += 1
        try:
            report = lambda_turn(sqs, url, arn, consumer, time_.invocation(3_000))
        except LambdaTimedOut:
            timed_out += 1
            continue
        if report is None:
            break
        outcomes.update(r.outcome for r in report.records)
        first_deferred = next(
            (i for i, r in enumerate(report.records) if r.outcome == "deferred"), None
        )
        if first_deferred is not None:  # nothing after the deadline ran
            assert {r.outcome for r in report.records[first_deferred:]} <= {"deferred", "retried"}

    assert timed_out == 0
    assert outcomes["deferred"] > DEADLINE_MESSAGES // 2  # time ran out again and again
    assert outcomes["failed"] == len(fail_once)
    assert sorted(handled) == sorted(m.id for m in msgs)
    assert started == Counter({m.id: 2 if m.id in fail_once else 1 for m in msgs})
    if fifo:
        for g in range(3):
            mine = [h for h in handled if int(h[1:]) % 3 == g]
            assert mine == sorted(mine)
    assert receive_all(sqs, url) == []
    assert lost_and_twice([m.id for m in msgs], handled, []) == (0, 0)
    print(
        f"\ndeadline ({'fifo' if fifo else 'standard'}): sent {len(msgs)}, handled "
        f"{len(handled)}, {turns - 1} invocations, {outcomes['deferred']} records deferred and "
        f"redelivered, 0 timed out, lost 0, twice 0"
    )


# ---- the worker's heartbeat -------------------------------------------------------------

WORKERS = 6 if SOAK else 3
HEARTBEAT_MESSAGES = 36 if SOAK else 6
VISIBILITY = 3  # seconds: the heartbeat extends every second
LONG = 3.5  # seconds a first delivery's batch takes: longer than the visibility timeout


def test_several_workers_with_long_handlers_handle_each_message_once(aws: Emulator) -> None:
    """Several ``versioned-msgs worker`` loops on one queue (3 s visibility timeout, batches
    of 2) run a consumer behind a Lambda handler that takes 3.5 s on a batch's first
    delivery: each batch's heartbeat keeps it from the other workers, so every message is
    received and started exactly as often as intended (once; twice for the few whose
    handler fails once and return after the timeout). Lost 0, handled twice 0."""
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, "long-jobs", VisibilityTimeout=str(VISIBILITY))
    ids = [f"h{i:03d}" for i in range(HEARTBEAT_MESSAGES)]
    assert (
        vm.Publisher(new_registry(), sqs=sqs)
        .send_batch(url, [OrderV2(id=i, qty=1) for i in ids])
        .ok
    )
    fail_once = set(ids[1::4])
    lock = threading.Lock()
    started: Counter[str] = Counter()
    handled: list[str] = []
    receives: dict[str, int] = {}

    def make_handler() -> Any:
        consumer = vm.Consumer(new_registry())

        @consumer.handler(OrderV2)
        def handle(order: OrderV2, meta: vm.Meta) -> None:
            with lock:
                started[order.id] += 1
                first = started[order.id] == 1
            if order.id in fail_once and first:
                raise RuntimeError("downstream refused")
            with lock:
                handled.append(order.id)
                receives[order.id] = int(meta.record["attributes"]["ApproximateReceiveCount"])

        def lambda_handler(event: dict[str, Any], context: Any) -> Any:
            counts = [r["attributes"]["ApproximateReceiveCount"] for r in event["Records"]]
            if "1" in counts:
                threading.Event().wait(LONG)  # the long part of the job
            return consumer.handle_event(event, context)

        return lambda_handler

    workers = [
        Worker(aws.client("sqs"), url, make_handler(), batch_size=2, wait_seconds=1)
        for _ in range(WORKERS)
    ]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 60 + 10 * HEARTBEAT_MESSAGES
    while time.monotonic() < give_up:  # bounds the wait only; nothing below is timed
        with lock:
            done = len(handled) >= len(ids)
        if done and _in_queue(sqs, url) == 0:
            break
        time.sleep(0.2)
    for w in workers:
        w.stop()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)

    expected = Counter({i: 2 if i in fail_once else 1 for i in ids})
    assert started == expected  # no batch was started by a second worker while held
    assert receives == dict(expected)  # SQS delivered each exactly that often
    assert sorted(handled) == sorted(ids)
    assert sum(w.stats.extended for w in workers) > 0
    assert sum(w.stats.extension_failures for w in workers) == 0
    assert _in_queue(sqs, url) == 0
    assert lost_and_twice(ids, handled, []) == (0, 0)
    print(
        f"\nheartbeat: {WORKERS} workers, sent {len(ids)}, handled {len(handled)}, "
        f"{sum(w.stats.extended for w in workers)} visibility extensions, lost 0, twice 0"
    )


def _in_queue(sqs: Any, url: str) -> int:
    """Messages in the queue, visible or not."""
    a = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


# ---- redrive through faults -------------------------------------------------------------

PARKED = 300 if SOAK else 30


def _parked_number(body: str) -> int:
    """The number in a parked invoice's id; a wrapped message's body is base64."""
    text = body if body.startswith("{") else base64.b64decode(body).decode()
    found = re.search(r'"id":\s*"[iw](\d+)', text)
    assert found is not None, text
    return int(found.group(1))


def test_a_redrive_through_failing_calls_brings_every_parked_message_back_once(
    aws: Emulator,
) -> None:
    """Old consumers (v1 only, ``on_newer="park"``) park the v2 invoices of a queue and of a
    Kinesis shard (those whose text SQS refuses parked in the wrapped form). The redrive to
    the queue then meets faults: a SendMessageBatch call answered 500, one with no
    connection, one throttled whole, entries throttled once and refused through the first
    run. The first run moves what it can and reports the rest as still parked; rerun until
    complete (as an operator would), the redrive moves the rest. A new consumer then handles
    every parked invoice exactly once, with the data that was sent (the wrapped ones
    character for character), and the park queue is empty. Lost 0, handled twice 0."""
    sqs = aws.client("sqs")
    park, _ = make_queue(sqs, "invoices-parked", VisibilityTimeout="0")
    url, arn = make_queue(sqs, "invoices")
    reg = new_registry()
    invoices = [InvoiceV2(id=f"i{n:04d}", amount=f"{n}.50") for n in range(PARKED)]
    wrapped = [InvoiceV2(id=f"w{n}\ufffe", amount="1.00") for n in range(max(2, PARKED // 10))]
    pub = vm.Publisher(reg, sqs=sqs, backoff=0)
    orders = [OrderV1(id=f"o{n:04d}", qty=n) for n in range(PARKED // 3)]
    assert pub.send_batch(url, [*invoices, *orders]).ok

    old = vm.Consumer(old_registry(), on_newer="park", sqs=sqs, park_queue_url=park)
    old_handled: list[str] = []
    old.handler(OrderV1)(lambda msg, meta: old_handled.append(msg.id))
    old.handler(InvoiceV1)(lambda msg, meta: old_handled.append(msg.id))
    parked = Counter[str]()
    while (report := lambda_turn(sqs, url, arn, old)) is not None:
        parked.update(r.outcome for r in report.records)
    stream = kinesis_event(*(reg.encode(w) for w in wrapped))
    parked.update(r.outcome for r in old.process(stream, None).records)
    assert parked["parked"] == len(invoices) + len(wrapped)
    assert sorted(old_handled) == sorted(o.id for o in orders)

    faults = Faults(sqs)
    whole: dict[int, Any] = {
        2: (500, "InternalError"),
        3: EndpointConnectionError(endpoint_url=url),
        4: (400, "ThrottlingException"),
    }
    faults.on("SendMessageBatch", lambda params: whole.get(faults.calls["SendMessageBatch"]))

    def entry_fault(entry: dict[str, Any], attempt: int) -> tuple[str, bool] | None:
        n = _parked_number(entry["MessageBody"])
        if not entry["MessageBody"].startswith("{"):
            in_wrapped_form.add(n)
        if n % 10 == 7 and attempt == 1:
            return ("RequestThrottled", False)  # once: retried in the same run
        if n % 10 == 9 and not runs:
            return ("InternalError", False)  # all through the first run: stays parked
        return None

    runs: list[RedriveResult] = []
    in_wrapped_form: set[int] = set()
    EntryFaults(sqs, "SendMessageBatch", entry_fault)
    while not (runs and runs[-1].complete):  # an operator reruns an incomplete redrive
        assert len(runs) < 5
        runs.append(redrive(sqs, park, url, backoff=0, max_attempts=2))
        assert runs[-1].delete_failed == []
    first = runs[0]
    assert not first.complete
    assert first.send_failed  # reported, still parked
    assert {"InternalError", "EndpointConnectionError"} <= {
        code for r in runs for code in r.send_codes
    }
    assert sum(r.moved for r in runs) == len(invoices) + len(wrapped)
    assert faults.injected["SendMessageBatch"] == 3
    assert len(in_wrapped_form) == len(wrapped)  # parked (and redriven) as base64

    new = vm.Consumer(reg)
    got: list[InvoiceV2] = []
    new.handler(InvoiceV2)(lambda msg, meta: got.append(msg))
    outcomes = Counter[str]()
    while (report := lambda_turn(sqs, url, arn, new)) is not None:
        outcomes.update(r.outcome for r in report.records)
    assert outcomes == {"handled": len(invoices) + len(wrapped)}
    assert sorted(got, key=lambda i: i.id) == sorted([*invoices, *wrapped], key=lambda i: i.id)
    assert receive(sqs, park) == []
    sent_ids = [i.id for i in [*invoices, *wrapped]]
    assert lost_and_twice(sent_ids, [i.id for i in got], []) == (0, 0)
    print(
        f"\nredrive through faults: parked {len(sent_ids)} ({len(wrapped)} wrapped), moved "
        f"{' then '.join(str(r.moved) for r in runs)} in {len(runs)} runs, handled {len(got)}, "
        f"lost 0, twice 0"
    )
