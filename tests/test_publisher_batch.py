"""Batch sends: chunking by count and size, retrying only failed entries, full reports."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from test_publisher import ORDER, Calls, OrderV2, _queue, _receive, make_registry

import versioned_msgs as vm
from versioned_msgs._aws.batch import EntryOutcome, run_batches
from versioned_msgs.testing import Emulator


def _orders(n: int, size: int = 0) -> list[OrderV2]:
    return [OrderV2(order_id=f"o-{i}" + "x" * size, total_cents=i) for i in range(n)]


def test_25_messages_go_out_in_3_send_message_batch_calls(aws: Emulator) -> None:
    """send_batch chunks by 10: 25 messages make 3 calls, and every message arrives stamped."""
    sqs, url, _ = _queue(aws)
    calls = Calls(sqs)
    result = vm.Publisher(make_registry(), sqs=sqs).send_batch(url, _orders(25))
    assert calls.names == ["SendMessageBatch"] * 3
    assert [len(p["Entries"]) for p in calls.params] == [10, 10, 5]
    assert result.failed == []
    assert [s.index for s in result.succeeded] == list(range(25))
    received = _receive(sqs, url, 25)
    while len(received) < 25:
        received += _receive(sqs, url, 25 - len(received))
    assert {m["MessageId"] for m in received} == set(result.message_ids)
    assert all(m["MessageAttributes"]["vmsg-version"]["StringValue"] == "2" for m in received)


def test_25_messages_go_out_in_3_publish_batch_calls(aws: Emulator) -> None:
    """publish_batch chunks by 10 too, and names every message id."""
    sns = aws.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    calls = Calls(sns)
    result = vm.Publisher(make_registry(), sns=sns).publish_batch(topic, _orders(25))
    assert calls.names == ["PublishBatch"] * 3
    assert len(result.succeeded) == 25
    assert result.ok


def test_25_events_go_out_in_3_put_events_calls(aws: Emulator) -> None:
    """put_events chunks by 10 entries per PutEvents call."""
    events = aws.client("events")
    calls = Calls(events)
    result = vm.Publisher(make_registry(), events=events).put_events(_orders(25), source="app")
    assert calls.names == ["PutEvents"] * 3
    assert len(result.message_ids) == 25


def test_publish_batch_also_chunks_by_total_request_size(aws: Emulator) -> None:
    """SNS allows 256 KiB per PublishBatch: ten 60 KiB messages need three calls (4+4+2)."""
    sns = aws.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    calls = Calls(sns)
    result = vm.Publisher(make_registry(), sns=sns).publish_batch(topic, _orders(10, 60_000))
    assert result.ok
    assert [len(p["PublishBatchRequestEntries"]) for p in calls.params] == [4, 4, 2]


def test_fifo_batch_takes_group_and_dedup_ids_as_callables(aws: Emulator) -> None:
    """FIFO group_id/dedup_id may be functions of the message; each entry gets its own."""
    sqs, url, _ = _queue(aws, "orders.fifo", FifoQueue="true")
    result = vm.Publisher(make_registry(), sqs=sqs).send_batch(
        url,
        _orders(4),
        group_id=lambda m: f"g{m.total_cents % 2}",
        dedup_id=lambda m: m.order_id,
    )
    assert result.ok
    assert all(s.sequence_number for s in result.succeeded)
    got = _receive(sqs, url, 4)
    groups = {json.loads(m["Body"])["order_id"]: m["Attributes"]["MessageGroupId"] for m in got}
    assert groups == {"o-0": "g0", "o-1": "g1", "o-2": "g0", "o-3": "g1"}


def test_put_records_writes_envelopes_with_per_message_keys(aws: Emulator) -> None:
    """Kinesis put_records: one PutRecords call, envelope data, partition key per message."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    calls = Calls(kinesis)
    pub = vm.Publisher(make_registry(), kinesis=kinesis)
    result = pub.put_records("s", _orders(3), partition_key=lambda m: m.order_id)
    assert calls.names == ["PutRecords"]
    assert [s.shard_id for s in result.succeeded] == ["shardId-000000000000"] * 3
    shard = kinesis.describe_stream(StreamName="s")["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    assert [r["PartitionKey"] for r in records] == ["o-0", "o-1", "o-2"]
    assert [r["SequenceNumber"] for r in records] == result.message_ids
    assert json.loads(records[1]["Data"])["vmsg"] == {"type": "order.created", "version": 2}


def test_a_request_that_fails_whole_fails_its_entries_with_the_code(aws: Emulator) -> None:
    """A batch to a missing queue reports every entry as failed with AWS's error code."""
    sqs = aws.client("sqs")
    url = f"{aws.endpoint_url}/123456789012/missing"
    result = vm.Publisher(make_registry(), sqs=sqs).send_batch(url, _orders(12))
    assert result.succeeded == []
    assert [f.index for f in result.failed] == list(range(12))
    assert "NonExistentQueue" in result.failed[0].code
    assert not result.failed[0].retryable


def test_empty_batches_make_no_request() -> None:
    """No messages, no request, an empty result (no client is even made)."""
    pub = vm.Publisher(make_registry())
    assert pub.send_batch("https://q", []) == vm.BatchResult(succeeded=[], failed=[])
    assert pub.put_events([], source="app").ok


# ---- retries, with in-process fakes (pure unit tests: no AWS at all) ----------------------


class FakeBatchClient:
    """Answers SendMessageBatch/PublishBatch/PutEvents/PutRecords from a failure script.

    ``script[index]`` lists the failures of successive attempts for that entry: a
    ``(code, retryable)`` pair per attempt; an attempt past the list succeeds.
    """

    def __init__(self, script: dict[int, list[tuple[str, bool]]]) -> None:
        self.script = script
        self.seen: dict[int, int] = {}
        self.calls: list[list[int]] = []

    def _next(self, i: int) -> tuple[str, bool] | None:
        n = self.seen.get(i, 0)
        self.seen[i] = n + 1
        steps = self.script.get(i, [])
        return steps[n] if n < len(steps) else None

    def _id_batch(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [int(e["Id"]) for e in entries]
        self.calls.append(ids)
        ok, failed = [], []
        for i in ids:
            step = self._next(i)
            if step is None:
                ok.append({"Id": str(i), "MessageId": f"m{i}"})
            else:
                failed.append(
                    {"Id": str(i), "Code": step[0], "Message": "nope", "SenderFault": not step[1]}
                )
        return {"Successful": ok, "Failed": failed}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return self._id_batch(Entries)

    def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self._id_batch(PublishBatchRequestEntries)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [int(json.loads(e["Detail"])["data"]["total_cents"]) for e in Entries]
        self.calls.append(ids)
        out: list[dict[str, Any]] = []
        for i in ids:
            step = self._next(i)
            out.append(
                {"EventId": f"e{i}"}
                if step is None
                else {"ErrorCode": step[0], "ErrorMessage": "nope"}
            )
        return {"FailedEntryCount": sum("ErrorCode" in e for e in out), "Entries": out}

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [int(r["PartitionKey"]) for r in Records]
        self.calls.append(ids)
        out: list[dict[str, Any]] = []
        for i in ids:
            step = self._next(i)
            out.append(
                {"SequenceNumber": f"s{i}", "ShardId": "shardId-0"}
                if step is None
                else {"ErrorCode": step[0], "ErrorMessage": "nope"}
            )
        return {"FailedRecordCount": sum("ErrorCode" in r for r in out), "Records": out}


def _send(kind: str, pub: vm.Publisher, n: int) -> vm.BatchResult:
    msgs = _orders(n)
    if kind == "sqs":
        return pub.send_batch("https://sqs/q", msgs)
    if kind == "sns":
        return pub.publish_batch("arn:aws:sns:us-east-1:1:t", msgs)
    if kind == "events":
        return pub.put_events(msgs, source="app")
    return pub.put_records("s", msgs, partition_key=lambda m: str(m.total_cents))


TRANSIENT = {
    "sqs": "InternalError",
    "sns": "InternalError",
    "events": "ThrottlingException",
    "kinesis": "ProvisionedThroughputExceededException",
}
PERMANENT = {
    "sqs": "InvalidParameterValue",
    "sns": "InvalidParameter",
    "events": "MalformedDetail",
    "kinesis": "AccessDeniedException",
}


@pytest.mark.parametrize("kind", ["sqs", "sns", "events", "kinesis"])
def test_only_failed_retryable_entries_are_retried_and_all_are_reported(kind: str) -> None:
    """Entry 3 fails once transiently (retried, then succeeds); entry 5 fails for good at
    once (not retried); entry 7 stays throttled past 3 attempts. Nothing goes unreported."""
    transient, permanent = TRANSIENT[kind], PERMANENT[kind]
    fake = FakeBatchClient(
        {
            3: [(transient, True)],
            5: [(permanent, False)],
            7: [(transient, True)] * 5,
        }
    )
    clients = {"sqs": fake, "sns": fake, "events": fake, "kinesis": fake}
    pub = vm.Publisher(make_registry(), backoff=0, **clients)
    result = _send(kind, pub, 8)
    assert fake.calls == [list(range(8)), [3, 7], [7]]
    assert [s.index for s in result.succeeded] == [0, 1, 2, 3, 4, 6]
    assert result.failed == [
        vm.BatchFailure(index=5, code=permanent, message="nope", retryable=False, attempts=1),
        vm.BatchFailure(index=7, code=transient, message="nope", retryable=True, attempts=3),
    ]
    assert not result.ok


def test_retries_back_off_exponentially_with_full_jitter() -> None:
    """Waits are drawn from [0, backoff x 2^(attempt-1)] between rounds, never after the last."""
    waits: list[float] = []

    def call(chunk: list[tuple[int, str]]) -> dict[int, EntryOutcome]:
        return {i: EntryOutcome(code="Throttled", retryable=True) for i, _ in chunk}

    result = run_batches(
        [("a", 1)],
        call,
        max_entries=10,
        max_bytes=100,
        max_attempts=4,
        backoff=1.0,
        sleep=waits.append,
    )
    assert len(waits) == 3
    assert all(0 <= w <= bound for w, bound in zip(waits, [1.0, 2.0, 4.0], strict=True))
    assert result.failed[0].attempts == 4


def test_one_per_group_never_lets_a_group_overtake_a_failed_entry() -> None:
    """With one_per_group, a call carries at most one entry of each group; so when the
    second 'a' entry fails (AWS accepting later entries of 'a' in the same call is then
    impossible), the later 'a' entries are held behind its retry and arrive in order."""
    calls: list[list[str]] = []
    accepted: list[str] = []
    failures = {"a2": 1}

    def call(chunk: list[tuple[int, str]]) -> dict[int, EntryOutcome]:
        calls.append([e for _, e in chunk])
        out: dict[int, EntryOutcome] = {}
        for i, e in chunk:
            if failures.get(e, 0) > 0:
                failures[e] -= 1
                out[i] = EntryOutcome(code="Throttled", retryable=True)
            else:
                accepted.append(e)
                out[i] = EntryOutcome(vm.BatchSuccess(index=i, message_id=e))
        return out

    entries = ["a1", "b1", "a2", "b2", "a3", "a4"]
    result = run_batches(
        [(e, 1) for e in entries],
        call,
        max_entries=10,
        max_bytes=100,
        max_attempts=3,
        backoff=0,
        group_of=lambda e: e[0],
        one_per_group=True,
    )
    assert result.ok
    assert calls == [["a1", "b1"], ["a2", "b2"], ["a2"], ["a3"], ["a4"]]
    assert [e for e in accepted if e[0] == "a"] == ["a1", "a2", "a3", "a4"]


def test_entries_missing_from_an_answer_are_reported_not_dropped() -> None:
    """If AWS's answer leaves an entry out, it is a failure named MissingFromResponse."""
    result = run_batches(
        [("a", 1), ("b", 1)],
        lambda chunk: {0: EntryOutcome(vm.BatchSuccess(index=0, message_id="m0"))},
        max_entries=10,
        max_bytes=100,
        max_attempts=3,
        backoff=0,
    )
    assert result.message_ids == ["m0"]
    assert [(f.index, f.code) for f in result.failed] == [(1, "MissingFromResponse")]


def test_batch_result_is_a_small_immutable_value() -> None:
    """BatchResult and its entries are frozen msgspec Structs with readable reprs."""
    ok = vm.BatchSuccess(index=0, message_id="m")
    result = vm.BatchResult(succeeded=[ok], failed=[])
    with pytest.raises(AttributeError):
        result.failed = []  # type: ignore[misc]
    assert msgspec.to_builtins(result) == {
        "succeeded": [{"index": 0, "message_id": "m", "sequence_number": None, "shard_id": None}],
        "failed": [],
    }
    assert "message_id='m'" in repr(result)


def test_batches_write_pinned_versions(aws: Emulator) -> None:
    """Pins apply to batches too: every entry is written at the pinned version."""
    sqs, url, _ = _queue(aws)
    pub = vm.Publisher(make_registry(), sqs=sqs, pins={"order.created": 1})
    assert pub.send_batch(url, [ORDER, ORDER]).ok
    got = _receive(sqs, url, 2)
    assert {m["MessageAttributes"]["vmsg-version"]["StringValue"] for m in got} == {"1"}
    assert json.loads(got[0]["Body"]) == {"order_id": "o-1", "total": 12}


def test_fifo_batches_hold_a_group_behind_its_failed_message() -> None:
    """Message 9 of group 'a' fails transiently; the group's later messages (next chunk)
    wait and go out behind it on the retry, so the group's order is kept."""
    fake = FakeBatchClient({9: [("InternalError", True)]})
    pub = vm.Publisher(make_registry(), sqs=fake, backoff=0)
    orders = _orders(13)
    result = pub.send_batch(
        "https://sqs/q.fifo", orders, group_id=lambda m: "a" if m.total_cents >= 9 else "b"
    )
    assert fake.calls == [list(range(10)), [9, 10, 11, 12]]
    assert result.ok
    assert [s.index for s in result.succeeded] == list(range(13))


def test_fifo_batches_never_retry_a_message_its_group_has_overtaken() -> None:
    """Message 2 (group 'a') fails but 4, 6, 8 of 'a' were accepted in the same call: 2 is
    not retried (it would land after them) and 'a' messages of later chunks are not sent."""
    fake = FakeBatchClient({2: [("InternalError", True)]})
    pub = vm.Publisher(make_registry(), sns=fake, backoff=0)
    result = pub.publish_batch(
        "arn:aws:sns:us-east-1:1:t.fifo",
        _orders(14),
        group_id=lambda m: "a" if m.total_cents % 2 == 0 else "b",
    )
    assert fake.calls == [list(range(10)), [11, 13]]
    assert [(f.index, f.code, f.retryable) for f in result.failed] == [
        (2, "InternalError", True),
        (10, "PrecedingMessageFailed", False),
        (12, "PrecedingMessageFailed", False),
    ]
    assert "not retried: a later message of its group was accepted" in result.failed[0].message
    assert result.failed[1].message == (
        "not sent: message 2 of group 'a' failed before it, and sending this one first "
        "would break the group's order"
    )
    assert len(result.succeeded) == 11


def test_standard_queue_retries_do_not_hold_anything() -> None:
    """Without FIFO, a failed entry does not hold back later ones (group ids or not)."""
    fake = FakeBatchClient({9: [("InternalError", True)]})
    pub = vm.Publisher(make_registry(), sqs=fake, backoff=0)
    result = pub.send_batch("https://sqs/q", _orders(13), group_id="a")
    assert fake.calls == [list(range(10)), [10, 11, 12], [9]]
    assert result.ok


# ---- a whole call throttled -----------------------------------------------------------------

# (operation, the error code the service answers a throttled call with)
THROTTLED_CALLS = {
    "sqs": ("SendMessageBatch", "RequestThrottled"),
    "sns": ("PublishBatch", "Throttled"),
    "events": ("PutEvents", "ThrottlingException"),
    "kinesis": ("PutRecords", "ProvisionedThroughputExceededException"),
}


def _throttle_calls(client: Any, operation: str, code: str, times: int) -> list[int]:
    """Answer the first ``times`` calls of ``operation`` with a throttling error (status 400),
    as botocore raises it once its own retries are spent; later calls reach moto."""
    from botocore.awsrequest import AWSResponse

    calls: list[int] = []

    def before_call(**_: Any) -> Any:
        calls.append(1)
        if len(calls) > times:
            return None
        parsed = {
            "Error": {"Code": code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return AWSResponse("https://throttled.invalid/", 400, {}, None), parsed

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{service}.{operation}", before_call)
    return calls


def _real_target(aws: Emulator, kind: str) -> tuple[Any, Any]:
    """A real moto client for ``kind`` and a function sending ``n`` orders through it."""
    client = aws.client(kind)
    if kind == "sqs":
        url = client.create_queue(QueueName="throttled")["QueueUrl"]
        return client, lambda pub, msgs: pub.send_batch(url, msgs)
    if kind == "sns":
        arn = client.create_topic(Name="throttled")["TopicArn"]
        return client, lambda pub, msgs: pub.publish_batch(arn, msgs)
    if kind == "events":
        return client, lambda pub, msgs: pub.put_events(msgs, source="app")
    client.create_stream(StreamName="throttled", ShardCount=1)
    return client, lambda pub, msgs: pub.put_records(
        "throttled", msgs, partition_key=lambda m: m.order_id
    )


@pytest.mark.parametrize("kind", list(THROTTLED_CALLS))
def test_a_call_throttled_whole_is_retryable_and_retried(aws: Emulator, kind: str) -> None:
    """A batch call refused whole by throttling (nothing of it was accepted) is retried like
    a throttled entry; throttled on every attempt, its entries are reported retryable, with
    the service's code and the attempts made."""
    operation, code = THROTTLED_CALLS[kind]
    client, send = _real_target(aws, kind)
    calls = _throttle_calls(client, operation, code, times=1)
    pub = vm.Publisher(make_registry(), backoff=0, max_attempts=3, **{kind: client})
    result = send(pub, _orders(3))
    assert result.ok, result.failed
    assert [s.index for s in result.succeeded] == [0, 1, 2]
    assert len(calls) == 2

    calls = _throttle_calls(client, operation, code, times=99)
    result = send(pub, _orders(3))
    assert result.succeeded == []
    assert [(f.index, f.code, f.retryable, f.attempts) for f in result.failed] == [
        (i, code, True, 3) for i in range(3)
    ]
    assert len(calls) == 3
