"""Fault injection against the moto server: each fault ends handled, retried, reported or
parked, never silently dropped.

Faults come from botocore event hooks on real clients (``faults.py``): throttled and
rejected batch entries, whole batch calls failing, S3 ``412``/``404``/timeouts during reads,
a failing park queue, and handlers that raise (standard and FIFO queues).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from faults import EntryFaults, Faults
from queues import drain, lambda_turn, make_queue, receive, receive_all, uid
from reliability_models import (
    SOAK,
    OrderV1,
    OrderV2,
    RefundV1,
    future_registry,
    new_registry,
)

import versioned_msgs as vm
from versioned_msgs._cli.redrive import redrive
from versioned_msgs.testing import Emulator, kinesis_event, s3_event

ROUNDS = 10 if SOAK else 1


# ---- publishing ------------------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_throttled_and_rejected_batch_entries_are_retried_then_reported(
    aws: Emulator, round_: int
) -> None:
    """SendMessageBatch answers some entries with failures: throttled ones (transient) are
    retried and arrive once; a throttled-every-time entry and a sender-fault entry are
    reported in BatchResult.failed with their code, attempts and retryable flag; every
    message is either in the queue exactly once or in ``failed``."""
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, f"batch-{round_}")
    n = 35

    def decide(entry: dict[str, Any], attempt: int) -> tuple[str, bool] | None:
        i = int(uid(entry["MessageBody"])[1:])
        if i == 7:
            return ("InvalidParameterValue", True)  # the entry itself is at fault
        if i == 11:
            return ("RequestThrottled", False)  # throttled on every attempt
        if i % 4 == 0 and attempt == 1:
            return ("RequestThrottled", False)  # throttled once
        if i % 9 == 0 and attempt <= 2:
            return ("InternalError", False)  # twice
        return None

    faults = EntryFaults(sqs, "SendMessageBatch", decide)
    pub = vm.Publisher(new_registry(), sqs=sqs, backoff=0, max_attempts=3)
    result = pub.send_batch(url, [OrderV2(id=f"m{i}", qty=i) for i in range(n)])

    assert [(f.index, f.code, f.retryable, f.attempts) for f in result.failed] == [
        (7, "InvalidParameterValue", False, 1),
        (11, "RequestThrottled", True, 3),
    ]
    assert [s.index for s in result.succeeded] == [i for i in range(n) if i not in (7, 11)]
    arrived = Counter(uid(m["Body"]) for m in receive_all(sqs, url))
    assert arrived == Counter(f"m{i}" for i in range(n) if i not in (7, 11))  # each once
    assert len(faults.failed) > 2  # the transient failures really happened


def test_a_failing_batch_call_fails_its_entries_and_the_rest_go_out(aws: Emulator) -> None:
    """A whole SendMessageBatch call failing (a 500 after botocore's retries, a read timeout,
    no connection) fails exactly that chunk's entries, with the error's code; the other
    chunks are sent."""
    sqs = aws.client("sqs")
    url, _ = make_queue(sqs, "batch-calls")
    faults = Faults(sqs)
    seen = Counter[str]()

    def decide(params: dict[str, Any]) -> Any:
        seen["call"] += 1
        call = seen["call"]
        if call == 2:
            return (500, "InternalError")
        if call == 3:
            return ReadTimeoutError(endpoint_url=url)
        if call == 4:
            return EndpointConnectionError(endpoint_url=url)
        return None

    faults.on("SendMessageBatch", decide)
    pub = vm.Publisher(new_registry(), sqs=sqs, backoff=0)
    result = pub.send_batch(url, [OrderV2(id=f"m{i}", qty=i) for i in range(50)])
    codes = {f.index: f.code for f in result.failed}
    assert codes == {
        **{i: "InternalError" for i in range(10, 20)},
        **{i: "ReadTimeoutError" for i in range(20, 30)},
        **{i: "EndpointConnectionError" for i in range(30, 40)},
    }
    sent = sorted(int(uid(m["Body"])[1:]) for m in receive_all(sqs, url))
    assert sent == [*range(10), *range(40, 50)]
    assert sorted(s.index for s in result.succeeded) == sent


# ---- S3 reads ----------------------------------------------------------------------------


def test_s3_read_faults_end_skipped_retried_or_handled(aws: Emulator) -> None:
    """S3 notifications whose GetObject answers 412 (overwritten since) or 404 (deleted) are
    skipped; a read timeout fails the record so Lambda retries the event; on that retry
    (the fault gone) it is handled, once. Nothing else is handled twice."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    pub = vm.Publisher(new_registry(), s3=s3)
    etags = {}
    for key in ("ok", "stale", "gone", "slow", "flaky"):
        etags[key] = pub.put_object("bkt", key, OrderV2(id=key, qty=1))["ETag"]
    faults = Faults(s3)
    tries = Counter[str]()

    def decide(params: dict[str, Any]) -> Any:
        key = params["Key"]
        tries[key] += 1
        if key == "stale":
            return (412, "PreconditionFailed")
        if key == "gone":
            return (404, "NoSuchKey")
        if key == "slow" or (key == "flaky" and tries[key] == 1):
            return ReadTimeoutError(endpoint_url="https://s3.invalid/")
        return None

    faults.on("GetObject", decide)
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3)
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))

    outcomes: dict[str, list[str]] = {}
    for _ in range(3):  # Lambda retries a failed async event twice
        for key in etags:
            if outcomes.get(key, ["failed"])[-1] != "failed":
                continue
            event = s3_event("bkt", key, etag=etags[key])
            report = consumer.process(event, None)
            outcomes.setdefault(key, []).append(report.records[0].outcome)
    assert outcomes == {
        "ok": ["handled"],
        "stale": ["skipped"],
        "gone": ["skipped"],
        "slow": ["failed", "failed", "failed"],  # -> the on-failure destination
        "flaky": ["failed", "handled"],
    }
    assert sorted(handled) == ["flaky", "ok"]
    # as a Lambda handler, the failure raises (after the other records) so Lambda retries
    with pytest.raises(vm.RecordsFailedError, match="s3://bkt/slow failed"):
        consumer.handle_event(s3_event("bkt", "slow", etag=etags["slow"]), None)


def test_s3_read_faults_through_sqs_are_reported_per_record(aws: Emulator) -> None:
    """S3 notifications delivered through SQS: a timed-out read is named in
    batchItemFailures, redelivered and then handled; the stale one is skipped (deleted)."""
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket="bkt")
    url, arn = make_queue(sqs, "s3-events")
    pub = vm.Publisher(new_registry(), s3=s3)
    for key in ("ok", "stale", "flaky"):
        etag = pub.put_object("bkt", key, OrderV2(id=key, qty=1))["ETag"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event("bkt", key, etag=etag)))
    faults = Faults(s3)
    tries = Counter[str]()

    def decide(params: dict[str, Any]) -> Any:
        tries[params["Key"]] += 1
        if params["Key"] == "stale":
            return (412, "PreconditionFailed")
        if params["Key"] == "flaky" and tries["flaky"] == 1:
            return ReadTimeoutError(endpoint_url="https://s3.invalid/")
        return None

    faults.on("GetObject", decide)
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3)
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    outcomes = []
    while (report := lambda_turn(sqs, url, arn, consumer)) is not None:
        outcomes.extend(r.outcome for r in report.records)
    assert sorted(outcomes) == ["failed", "handled", "handled", "skipped"]
    assert sorted(handled) == ["flaky", "ok"]
    assert receive_all(sqs, url) == []


# ---- parking and handlers ------------------------------------------------------------------


def test_a_failing_park_queue_fails_the_record_until_parking_works(aws: Emulator) -> None:
    """While SendMessage to the park queue fails (500, then no connection), the unknown
    message is reported as failed and stays in the source queue; once the park queue
    answers, it is parked exactly once with its reason, and the queue is empty."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "work")
    park, _ = make_queue(sqs, "parked")
    future = vm.Publisher(future_registry(), sqs=sqs)
    future.send(url, RefundV1(id="r1", cents=5))
    vm.Publisher(new_registry(), sqs=sqs).send(url, OrderV2(id="o1", qty=1))
    faults = Faults(sqs)
    verdicts: list[Any] = [(500, "InternalError"), EndpointConnectionError(endpoint_url=park)]
    faults.on("SendMessage", lambda params: verdicts.pop(0) if verdicts else None)
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), on_unknown="park", sqs=sqs, park_queue_url=park)
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))

    by_id: dict[str, list[str]] = {}
    while (report := lambda_turn(sqs, url, arn, consumer)) is not None:
        for r in report.records:
            body = r.meta.record["body"] if r.meta else None
            by_id.setdefault(uid(body) if body else "r1", []).append(r.outcome)
    assert by_id == {"o1": ["handled"], "r1": ["failed", "failed", "parked"]}
    assert handled == ["o1"]
    parked = receive_all(sqs, park)
    assert [uid(m["Body"]) for m in parked] == ["r1"]
    reason = parked[0]["MessageAttributes"]["vmsg-parked-reason"]["StringValue"]
    assert reason.startswith("unknown: ")
    assert "refund.issued" in reason
    assert receive_all(sqs, url) == []


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_handler_exceptions_are_retried_until_handled_once_in_order(
    aws: Emulator, fifo: bool
) -> None:
    """Handlers that raise (some once, one three times) get their records named in
    batchItemFailures and redelivered; in the end each message is handled exactly once,
    and on a FIFO queue each group's messages are handled in the order they were sent."""
    sqs = aws.client("sqs")
    name, attrs = ("orders.fifo", {"FifoQueue": "true"}) if fifo else ("orders", {})
    url, arn = make_queue(sqs, name, **attrs)
    pub = vm.Publisher(new_registry(), sqs=sqs, backoff=0)
    msgs = [OrderV1(id=f"g{i % 3}-{i:02d}", qty=i) for i in range(30)]
    result = pub.send_batch(
        url,
        msgs,
        group_id=(lambda m: m.id[:2]) if fifo else None,
        dedup_id=(lambda m: m.id) if fifo else None,
    )
    assert result.ok
    fails = Counter({"g0-03": 1, "g1-10": 3, "g2-20": 1, "g0-27": 2})
    handled: list[str] = []

    def handle(msg: OrderV2, meta: vm.Meta) -> None:
        if fails[msg.id] > 0:
            fails[msg.id] -= 1
            raise RuntimeError(f"downstream refused {msg.id}")
        assert meta.upgraded_from == 1
        handled.append(msg.id)

    consumer = vm.Consumer(new_registry())
    consumer.handler(OrderV2)(handle)
    outcomes = Counter[str]()
    while (report := lambda_turn(sqs, url, arn, consumer)) is not None:
        outcomes.update(r.outcome for r in report.records)
    assert sorted(handled) == sorted(m.id for m in msgs)  # each exactly once
    assert outcomes["failed"] == 7
    assert outcomes["upgraded"] == 30
    if fifo:
        for g in ("g0", "g1", "g2"):
            mine = [h for h in handled if h.startswith(g)]
            assert mine == sorted(mine)
        assert outcomes["retried"] > 0  # later records of a failed group held back
    assert receive_all(sqs, url) == []


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_fifo_batch_retries_keep_each_group_in_order(aws: Emulator, round_: int) -> None:
    """SendMessageBatch to a FIFO queue (three interleaved groups, 10 entries per call) with
    failing entries: a throttled entry whose group's later messages are in later calls is
    retried and they wait behind it; a throttled entry overtaken in its own call by a later
    message of its group is reported, not retried (that would reorder), and so are the
    group's later messages (PrecedingMessageFailed); so is a group's failed-for-good entry.
    Every message arrives at most once, each group in send order, and every message that
    did not arrive is in BatchResult.failed."""
    sqs = aws.client("sqs")
    url, _ = make_queue(
        sqs, f"ordered-{round_}.fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    msgs = [OrderV2(id=f"g{i % 3}-{i:02d}", qty=i) for i in range(36)]

    def decide(entry: dict[str, Any], attempt: int) -> tuple[str, bool] | None:
        mid = uid(entry["MessageBody"])
        if mid in ("g0-09", "g1-04") and attempt == 1:
            return ("RequestThrottled", False)  # transient
        if mid == "g2-29":
            return ("InvalidParameterValue", True)  # for good
        return None

    EntryFaults(sqs, "SendMessageBatch", decide)
    pub = vm.Publisher(new_registry(), sqs=sqs, backoff=0)
    result = pub.send_batch(url, msgs, group_id=lambda m: m.id[:2])
    failed = {msgs[f.index].id: f for f in result.failed}
    later_g1 = [m.id for m in msgs if m.id.startswith("g1") and m.id > "g1-04" and m.id != "g1-07"]
    later_g2 = [m.id for m in msgs if m.id.startswith("g2") and m.id > "g2-29"]
    assert {k: f.code for k, f in failed.items()} == {
        "g1-04": "RequestThrottled",
        "g2-29": "InvalidParameterValue",
        **dict.fromkeys(later_g1 + later_g2, "PrecedingMessageFailed"),
    }
    assert "not retried: a later message of its group was accepted" in failed["g1-04"].message
    assert not any(f.retryable for k, f in failed.items() if k != "g1-04")
    arrived = []
    while batch := receive(sqs, url):
        arrived.extend(uid(m["Body"]) for m in batch)
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    expected = [m.id for m in msgs if m.id not in failed]
    assert "g0-09" in expected  # retried, and g0's later messages went out behind it
    assert sorted(arrived) == sorted(expected)  # each accepted message once
    for g in ("g0", "g1", "g2"):
        assert [a for a in arrived if a.startswith(g)] == [e for e in expected if e.startswith(g)]


def test_kinesis_retries_from_the_failed_record_handle_each_once_in_order() -> None:
    """A Kinesis shard with raising handlers, retried as Lambda does with
    ReportBatchItemFailures (the next invocation starts at the lowest reported sequence
    number, in batches of 10): every record is handled exactly once, in shard order; a
    record failing several times holds the shard's later records back until it succeeds."""
    reg = new_registry()
    stream = kinesis_event(*(reg.encode(OrderV2(id=f"k{i:02d}", qty=i)) for i in range(40)))
    records = stream["Records"]
    fails = Counter({"k05": 1, "k06": 2, "k17": 1, "k33": 3})
    handled: list[str] = []

    def handle(msg: OrderV2, meta: vm.Meta) -> None:
        if fails[msg.id] > 0:
            fails[msg.id] -= 1
            raise RuntimeError(f"downstream refused {msg.id}")
        handled.append(msg.id)

    consumer = vm.Consumer(reg)
    consumer.handler(OrderV2)(handle)
    position, invocations = 0, 0
    while position < len(records):
        invocations += 1
        assert invocations < 50
        batch = records[position : position + 10]
        response = consumer.handle_event({"Records": batch}, None)
        failed = [i["itemIdentifier"] for i in response["batchItemFailures"]]
        seqs = [r["kinesis"]["sequenceNumber"] for r in batch]
        assert all(f in seqs for f in failed)
        if failed:
            first = min(seqs.index(f) for f in failed)
            assert failed == seqs[first:]  # the failed record and every later one
            position += first
        else:
            position += len(batch)
    assert handled == [f"k{i:02d}" for i in range(40)]


# ---- redrive ---------------------------------------------------------------------------------


def park_orders(sqs: Any, park_url: str, ids: list[str], *, fifo: bool = False) -> None:
    """Messages as the consumer parks them: body, attributes and ``vmsg-parked-reason``; in a
    FIFO park queue, the group is the id's prefix (``G`` of ``G-1``)."""
    for mid in ids:
        extra = {"MessageGroupId": mid.split("-")[0], "MessageDeduplicationId": mid} if fifo else {}
        sqs.send_message(
            QueueUrl=park_url,
            MessageBody=json.dumps({"id": mid}),
            MessageAttributes={
                "vmsg-parked-reason": {"DataType": "String", "StringValue": "unknown: no reader"}
            },
            **extra,
        )


@pytest.mark.parametrize("fault", ["throttled once", "refused for good"])
def test_redrive_keeps_each_fifo_group_in_order_through_send_failures(
    aws: Emulator, fault: str
) -> None:
    """FIFO park queue to FIFO target, SendMessageBatch failing G-1 (the second message of
    group G): throttled once, it is retried and G's later messages go out behind it;
    refused for good, they stay parked with it (PrecedingMessageFailed) instead of
    overtaking it. Group H is not held back either way."""
    sqs = aws.client("sqs")
    park, _ = make_queue(sqs, "parked.fifo", FifoQueue="true")
    target, _ = make_queue(sqs, "orders.fifo", FifoQueue="true")
    ids = [f"{g}-{i}" for i in range(4) for g in ("G", "H")]
    park_orders(sqs, park, ids, fifo=True)

    def decide(entry: dict[str, Any], attempt: int) -> tuple[str, bool] | None:
        if uid(entry["MessageBody"]) != "G-1":
            return None
        if fault == "throttled once":
            return ("RequestThrottled", False) if attempt == 1 else None
        return ("InvalidParameterValue", True)

    EntryFaults(sqs, "SendMessageBatch", decide)
    result = redrive(sqs, park, target, backoff=0)
    arrived = drain(sqs, target)
    assert [a for a in arrived if a.startswith("H")] == ["H-0", "H-1", "H-2", "H-3"]
    if fault == "throttled once":
        assert [a for a in arrived if a.startswith("G")] == ["G-0", "G-1", "G-2", "G-3"]
        assert result.complete
        assert result.moved == 8
        return
    assert [a for a in arrived if a.startswith("G")] == ["G-0"]
    assert not result.complete
    assert result.moved == 5
    assert len(result.send_failed) == 3
    assert result.send_codes == {"InvalidParameterValue": 1, "PrecedingMessageFailed": 2}
    left = sqs.get_queue_attributes(
        QueueUrl=park, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert left["ApproximateNumberOfMessagesNotVisible"] == "3"  # still parked


def test_redrive_reports_and_counts_messages_sent_but_not_deleted(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DeleteMessageBatch failing (a 500 on every call) after the sends succeeded: the run
    goes on, and the summary and the exit status (1) say how many messages are now in both
    queues and may arrive twice, instead of stopping at the first "AWS error"."""
    from versioned_msgs._cli.main import main

    sqs = aws.client("sqs")
    park, _ = make_queue(sqs, "parked-std")
    target, _ = make_queue(sqs, "orders-std")
    park_orders(sqs, park, [f"m-{i}" for i in range(13)])
    faults = Faults(sqs)
    faults.on("DeleteMessageBatch", lambda params: (500, "InternalError"))
    monkeypatch.setattr("versioned_msgs._cli.main.make_client", lambda *a, **k: sqs)
    assert main(["redrive", park, target]) == 1
    out, err = capsys.readouterr()
    assert "AWS error" not in err
    assert "redrive: moved 13 messages" in out
    assert "13 sent but not deleted from the park queue (they may arrive twice" in out
    assert out.count("sent but not deleted (may arrive twice): ") == 13
    assert sorted(drain(sqs, target)) == sorted(f"m-{i}" for i in range(13))
    assert faults.calls["DeleteMessageBatch"] == 2  # one per chunk of 10 sent: not retried


def test_redrive_never_sends_a_message_twice_in_one_run(aws: Emulator) -> None:
    """A park queue with no visibility timeout hands a message whose delete failed straight
    back to the same run: it is not sent again, its delete is retried with the new receipt
    handle, and the run ends with every message moved once and nothing counted twice."""
    sqs = aws.client("sqs")
    park, _ = make_queue(sqs, "parked-vis0", VisibilityTimeout="0")
    target, _ = make_queue(sqs, "orders-vis0")
    park_orders(sqs, park, [f"m-{i}" for i in range(3)])
    faults = Faults(sqs)
    faults.on(
        "DeleteMessageBatch",
        lambda params: (500, "InternalError") if faults.calls["DeleteMessageBatch"] == 1 else None,
    )
    result = redrive(sqs, park, target, backoff=0)
    assert result.moved == 3
    assert result.delete_failed == []
    assert result.complete
    assert sorted(drain(sqs, target)) == ["m-0", "m-1", "m-2"]
    assert drain(sqs, park) == []
