"""Tests for the quick start handler, the way you would write them for your own.

Run with `pytest`: the `aws` fixture comes with versioned_msgs (a moto server on loopback,
emptied before each test); `versioned_msgs.testing` builds the events Lambda would send.
"""

# --8<-- [start:unit]
import pytest

from quickstart import Greeting, GreetingV1, lambda_handler, registry
from quickstart_publish import main
from versioned_msgs.testing import Emulator, sqs_event


def test_v1_greetings_are_upgraded(capsys: pytest.CaptureFixture[str]) -> None:
    event = sqs_event(registry.encode(GreetingV1(text="Hallo")), registry.encode(Greeting("Hi")))
    assert lambda_handler(event, None) == {"batchItemFailures": []}
    assert capsys.readouterr().out.splitlines() == [
        "Hallo [en] written as v1",
        "Hi [en] written as v2",
    ]


# --8<-- [end:unit]


# --8<-- [start:moto]
def test_published_greetings_reach_the_queue_stamped(aws: Emulator) -> None:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="greetings")["QueueUrl"]
    main(queue_url)
    got = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    versions = sorted(
        m["MessageAttributes"]["vmsg-version"]["StringValue"] for m in got["Messages"]
    )
    assert versions == ["1", "2"]


# --8<-- [end:moto]
