"""versioned-msgs redrive: parked messages back to their queue (versioned_msgs._cli.redrive)."""

from __future__ import annotations

from typing import Any

import pytest

from versioned_msgs._cli.demo_models import OrderCreatedV1, registry_v1
from versioned_msgs._cli.main import main
from versioned_msgs._cli.redrive import outgoing_attributes, redrive
from versioned_msgs.testing import Emulator


def _park(sqs: Any, park_url: str, n: int) -> None:
    for i in range(n):
        enc = registry_v1.encode(OrderCreatedV1(order_id=f"o-{i}", total_cents=i))
        sqs.send_message(
            QueueUrl=park_url,
            MessageBody=enc.body.decode(),
            MessageAttributes={
                **enc.stamp.to_message_attributes(),
                "tenant": {"DataType": "String", "StringValue": "acme"},
                "vmsg-parked-reason": {
                    "DataType": "String",
                    "StringValue": "order.created v1 is newer than this reader",
                },
            },
        )


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def test_redrive_moves_everything_and_drops_the_reason(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every parked message arrives with its body and attributes, minus vmsg-parked-reason."""
    sqs = aws.client("sqs")
    park = sqs.create_queue(QueueName="orders-parked")["QueueUrl"]
    queue = sqs.create_queue(QueueName="orders")["QueueUrl"]
    _park(sqs, park, 13)
    assert main(["redrive", park, queue, "--endpoint-url", aws.endpoint_url]) == 0
    out = capsys.readouterr().out
    assert "redrive: moved 13 messages" in out
    assert ["order.created", "v1", "is", "newer", "than", "this", "reader", "13"] in [
        line.split() for line in out.splitlines()
    ]
    moved = _drain(sqs, queue)
    assert len(moved) == 13
    assert sorted(m["Body"] for m in moved) == sorted(
        registry_v1.encode(OrderCreatedV1(order_id=f"o-{i}", total_cents=i)).body.decode()
        for i in range(13)
    )
    for m in moved:
        attrs = m["MessageAttributes"]
        assert set(attrs) == {"vmsg-type", "vmsg-version", "tenant"}
        assert attrs["vmsg-version"]["DataType"] == "Number"
        assert attrs["tenant"]["StringValue"] == "acme"
    assert _drain(sqs, park) == []


def test_redrive_limit_and_fifo(aws: Emulator) -> None:
    """--limit moves at most that many; a FIFO target gets group and deduplication ids."""
    sqs = aws.client("sqs")
    park = sqs.create_queue(QueueName="p")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="t.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    _park(sqs, park, 4)
    result = redrive(sqs, park, fifo, limit=3)
    assert result.moved == 3
    assert result.complete
    assert len(_drain(sqs, fifo)) == 3


def test_failed_send_keeps_the_message_parked(aws: Emulator) -> None:
    """When the send fails the message is not deleted from the park queue."""
    sqs = aws.client("sqs")
    park = sqs.create_queue(QueueName="p2")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="needs-ids.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    _park(sqs, park, 1)

    class NoSend:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def send_message_batch(self, **kwargs: Any) -> Any:
            return {
                "Successful": [],
                "Failed": [
                    {"Id": e["Id"], "Code": "X", "SenderFault": True} for e in kwargs["Entries"]
                ],
            }

    result = redrive(NoSend(sqs), park, fifo, limit=1)
    assert not result.complete
    assert result.moved == 0
    assert len(result.send_failed) == 1
    attrs = sqs.get_queue_attributes(
        QueueUrl=park, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_outgoing_attributes_shape() -> None:
    """Received attributes lose list fields and the park reason."""
    got = outgoing_attributes(
        {
            "a": {"DataType": "String", "StringValue": "x", "StringListValues": []},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00"},
            "vmsg-parked-reason": {"DataType": "String", "StringValue": "r"},
        }
    )
    assert got == {
        "a": {"DataType": "String", "StringValue": "x"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00"},
    }


def test_messages_parked_after_the_start_are_left(aws: Emulator) -> None:
    """A message parked while the redrive runs stays parked (and visible): no endless chase."""
    import time

    sqs = aws.client("sqs")
    park = sqs.create_queue(QueueName="p3")["QueueUrl"]
    queue = sqs.create_queue(QueueName="q3")["QueueUrl"]
    _park(sqs, park, 3)
    time.sleep(0.01)

    class ParksAgain:
        """The consumer parks one more message right after the redrive begins."""

        def __init__(self, real: Any) -> None:
            self._real = real
            self._done = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def receive_message(self, **kwargs: Any) -> Any:
            if not self._done:
                self._done = True
                time.sleep(0.01)
                _park(self._real, park, 1)
            return self._real.receive_message(**kwargs)

    result = redrive(ParksAgain(sqs), park, queue)
    assert result.moved == 3
    assert result.parked_since == 1
    assert "1 parked after the redrive started were left" in result.render()
    assert len(_drain(sqs, queue)) == 3
    assert len(_drain(sqs, park)) == 1  # visible again at once


def test_same_queue_is_usage_error(aws: Emulator) -> None:
    """Redriving a queue into itself would never end: exit 2."""
    url = aws.client("sqs").create_queue(QueueName="same")["QueueUrl"]
    assert main(["redrive", url, url, "--endpoint-url", aws.endpoint_url]) == 2


def test_a_fifo_target_gets_the_parked_group_or_one_group_per_message(aws: Emulator) -> None:
    """Into a FIFO target, a message from a FIFO park queue keeps its MessageGroupId; one
    from a standard park queue carries no group (parking into it lost the original), so it
    becomes a group of its own, its message id: no order is claimed that the park queue did
    not keep, and none of them holds back the others (there is no shared 'redrive' group)."""
    sqs = aws.client("sqs")
    fifo_park = sqs.create_queue(QueueName="parked.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    std_park = sqs.create_queue(QueueName="parked-std")["QueueUrl"]
    target = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for i in range(3):
        sqs.send_message(
            QueueUrl=fifo_park,
            MessageBody=f"fifo-{i}",
            MessageGroupId="customer-7",
            MessageDeduplicationId=f"fifo-{i}",
        )
    std_ids = {
        sqs.send_message(QueueUrl=std_park, MessageBody=f"std-{i}")["MessageId"]: f"std-{i}"
        for i in range(3)
    }
    assert redrive(sqs, fifo_park, target).complete
    assert redrive(sqs, std_park, target).complete
    groups: dict[str, str] = {}
    while got := sqs.receive_message(
        QueueUrl=target, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    ).get("Messages", []):
        for m in got:
            groups[m["Body"]] = m["Attributes"]["MessageGroupId"]
            sqs.delete_message(QueueUrl=target, ReceiptHandle=m["ReceiptHandle"])
    assert groups == {
        **{f"fifo-{i}": "customer-7" for i in range(3)},
        **{body: mid for mid, body in std_ids.items()},
    }
