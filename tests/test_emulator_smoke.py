"""The pytest plugin's emulator works with real boto3 clients."""

from versioned_msgs.testing import Emulator


def test_aws_fixture_reaches_moto_and_resets(aws: Emulator) -> None:
    """A queue made in one test is gone after the per-test reset."""
    sqs = aws.client("sqs")
    assert sqs.list_queues().get("QueueUrls", []) == []
    sqs.create_queue(QueueName="q1")
    assert len(sqs.list_queues()["QueueUrls"]) == 1
    aws.reset()
    assert sqs.list_queues().get("QueueUrls", []) == []
