"""Lambda event builders, lambda_sqs_event and lambda_kinesis_event (boto3 output -> Lambda)."""

from __future__ import annotations

import base64
import json

from consumer_models import v1, v2

import versioned_msgs as vm
from versioned_msgs.testing import (
    eventbridge_event,
    kinesis_event,
    lambda_kinesis_event,
    lambda_sqs_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)


def test_sqs_event_stamps_attributes_in_lambda_shape() -> None:
    """sqs_event: one record per message, body as text, stamp as stringValue/dataType."""
    enc = v2()
    rec = sqs_event(enc, attributes={"tenant": "acme"})["Records"][0]
    assert rec["body"] == enc.body.decode()
    assert rec["eventSource"] == "aws:sqs"
    assert rec["messageAttributes"]["vmsg-type"] == {
        "stringValue": "order.created",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert rec["messageAttributes"]["tenant"]["stringValue"] == "acme"
    assert vm.Stamp.from_message_attributes(rec["messageAttributes"]) == enc.stamp


def test_sqs_event_with_group_id_is_fifo() -> None:
    """group_id sets MessageGroupId and a .fifo queue ARN."""
    rec = sqs_event(v1(), group_id="g")["Records"][0]
    assert rec["attributes"]["MessageGroupId"] == "g"
    assert rec["eventSourceARN"].endswith(".fifo")


def test_sns_builders() -> None:
    """sns_event uses Type/Value attributes; sns_sqs_event pretty-prints the envelope."""
    enc = v1()
    sns = sns_event(enc)["Records"][0]["Sns"]
    assert sns["Message"] == enc.body.decode()
    assert sns["MessageAttributes"]["vmsg-version"] == {"Type": "Number", "Value": "1"}
    body = sns_sqs_event(enc)["Records"][0]["body"]
    assert '"Type" : "Notification"' in body
    envelope = json.loads(body)
    assert envelope["Message"] == enc.body.decode()
    assert envelope["MessageAttributes"]["vmsg-type"]["Value"] == "order.created"
    raw = sns_sqs_event(enc, raw=True)["Records"][0]
    assert raw["body"] == enc.body.decode()


def test_kinesis_and_eventbridge_builders_embed_the_stamp() -> None:
    """Kinesis data and EventBridge detail carry the embedded envelope."""
    enc = v2()
    data = kinesis_event(enc, partition_key="p")["Records"][0]["kinesis"]
    assert base64.b64decode(data["data"]) == enc.embedded()
    assert data["partitionKey"] == "p"
    eb = eventbridge_event(enc, source="shop")
    assert (eb["detail-type"], eb["source"]) == ("order.created", "shop")
    assert eb["detail"]["vmsg"]["version"] == 2


def test_s3_event_url_encodes_the_key() -> None:
    """s3_event writes the key as S3 does: URL-encoded with + for spaces."""
    obj = s3_event("b", "a b/c+d.json", '"etag"', "v1")["Records"][0]["s3"]["object"]
    assert obj["key"] == "a+b/c%2Bd.json"
    assert (obj["eTag"], obj["versionId"]) == ("etag", "v1")


def test_lambda_sqs_event_shapes_boto3_messages() -> None:
    """boto3 receive_message output becomes Lambda records: camelCase, base64 binary values."""
    messages = [
        {
            "MessageId": "m1",
            "ReceiptHandle": "rh",
            "MD5OfBody": "md5",
            "Body": "{}",
            "Attributes": {"ApproximateReceiveCount": "2", "MessageGroupId": "g"},
            "MD5OfMessageAttributes": "md5a",
            "MessageAttributes": {
                "s": {"StringValue": "x", "DataType": "String"},
                "b": {"BinaryValue": b"hi", "DataType": "Binary"},
            },
        }
    ]
    arn = "arn:aws:sqs:eu-west-1:123456789012:q.fifo"
    event = lambda_sqs_event({"Messages": messages}, arn)
    rec = event["Records"][0]
    assert rec["messageId"] == "m1"
    assert rec["receiptHandle"] == "rh"
    assert rec["attributes"] == {"ApproximateReceiveCount": "2", "MessageGroupId": "g"}
    assert rec["messageAttributes"]["s"] == {
        "stringValue": "x",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert rec["messageAttributes"]["b"]["binaryValue"] == base64.b64encode(b"hi").decode()
    assert (rec["eventSource"], rec["eventSourceARN"], rec["awsRegion"]) == (
        "aws:sqs",
        arn,
        "eu-west-1",
    )
    assert rec["md5OfBody"] == "md5"
    assert rec["md5OfMessageAttributes"] == "md5a"
    assert lambda_sqs_event(messages, arn) == event
    assert lambda_sqs_event([], arn) == {"Records": []}


def test_lambda_kinesis_event_shapes_get_records_output() -> None:
    """boto3 get_records output becomes Lambda Kinesis records: base64 data, the sequence
    number as item identifier, the shard in eventID, the region taken from the stream ARN."""
    from datetime import datetime, timezone

    arrival = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    response = {
        "Records": [
            {
                "SequenceNumber": "495",
                "ApproximateArrivalTimestamp": arrival,
                "Data": b'{"vmsg":{"type":"t","version":1},"data":{}}',
                "PartitionKey": "pk-1",
            }
        ]
    }
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"
    event = lambda_kinesis_event(response, arn, shard_id="shardId-000000000003")
    (rec,) = event["Records"]
    assert rec["kinesis"] == {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "pk-1",
        "sequenceNumber": "495",
        "data": base64.b64encode(response["Records"][0]["Data"]).decode(),
        "approximateArrivalTimestamp": arrival.timestamp(),
    }
    assert rec["eventID"] == "shardId-000000000003:495"
    assert (rec["eventSource"], rec["eventSourceARN"], rec["awsRegion"]) == (
        "aws:kinesis",
        arn,
        "eu-west-1",
    )
    assert lambda_kinesis_event(response["Records"], arn) == {
        "Records": [{**rec, "eventID": "shardId-000000000000:495"}]
    }
