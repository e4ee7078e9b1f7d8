"""Message attributes in their three shapes: reading and converting them in one module."""

from __future__ import annotations

from typing import Any

import pytest

from versioned_msgs._aws.limits import user_attributes
from versioned_msgs._cli.redrive import outgoing_attributes
from versioned_msgs._core.attributes import (
    EXTENDED_PAYLOAD_SIZE,
    SIZE_ATTRIBUTES,
    attribute_parts,
    attribute_text,
    attributes_digest,
    boto3_attributes,
    lambda_attribute,
    plain_attributes,
    send_attribute,
    sns_attribute,
)
from versioned_msgs._core.errors import LimitExceededError

BOTO3: dict[str, dict[str, Any]] = {
    "who": {"DataType": "String", "StringValue": "acme"},
    "n": {"DataType": "Number.int", "StringValue": "3"},
    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
}
PLAIN = {"who": "acme", "n": 3, "raw": b"\x00\xff"}


@pytest.mark.parametrize(
    "attr",
    [
        {"DataType": "Number", "StringValue": "2"},
        {"dataType": "Number", "stringValue": "2", "stringListValues": []},
        {"Type": "Number", "Value": "2"},
    ],
    ids=["boto3", "lambda", "sns"],
)
def test_attribute_text_reads_each_shape(attr: dict[str, Any]) -> None:
    """attribute_text gives the data type and string value of boto3, Lambda and SNS shapes."""
    assert attribute_text(attr) == ("Number", "2")


def test_attribute_text_and_parts_read_one_shape_per_attribute() -> None:
    """Both readers tell an attribute's shape by its data-type key (Lambda's first), so they
    agree on every mapping, one that mixes shapes included: a stamp and the SQS fast path's
    table can never read two different values from one attribute."""
    for attr in (
        {"DataType": "String", "StringValue": "x"},
        {"dataType": "String", "stringValue": "x"},
        {"Type": "String", "Value": "x"},
    ):
        assert attribute_text(attr) == attribute_parts(attr)[:2] == ("String", "x")
    for mixed, expected in (
        ({"DataType": "String", "stringValue": "x"}, ("String", None)),
        ({"dataType": "Number", "stringValue": "2", "StringValue": "1"}, ("Number", "2")),
        ({"DataType": "Number", "StringValue": "1", "Value": "2"}, ("Number", "1")),
    ):
        assert attribute_text(mixed) == attribute_parts(mixed)[:2] == expected


def test_lambda_attribute_is_the_shape_lambda_delivers() -> None:
    """boto3 -> Lambda SQS: camelCase keys, base64 binaries, the two list fields always there."""
    assert lambda_attribute(BOTO3["raw"]) == {
        "binaryValue": "AP8=",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }
    assert lambda_attribute({"DataType": "String", "StringValue": "a"})["stringValue"] == "a"


def test_lambda_attribute_round_trips_through_the_readers() -> None:
    """Attributes converted to Lambda's shape read back as the same plain values and, back in
    boto3's shape, as the same attributes; SQS's digest can be computed from them."""
    lam = {name: lambda_attribute(attr) for name, attr in BOTO3.items()}
    assert plain_attributes(lam) == plain_attributes(BOTO3) == PLAIN
    assert boto3_attributes(lam) == (BOTO3, [])
    assert attributes_digest(lam) is not None


def test_sns_attribute_carries_binaries_in_base64() -> None:
    """boto3 -> SNS: Type/Value, a binary's Value base64; plain values read back unchanged."""
    sns = {name: sns_attribute(attr) for name, attr in BOTO3.items()}
    assert sns["raw"] == {"Type": "Binary", "Value": "AP8="}
    assert sns["who"] == {"Type": "String", "Value": "acme"}
    assert plain_attributes(sns) == PLAIN


def test_send_attribute_keeps_only_what_send_message_takes() -> None:
    """A received attribute loses its list fields; DataType and its values are kept as-is."""
    received = {"DataType": "Binary", "BinaryValue": b"\x01", "BinaryListValues": []}
    assert send_attribute(received) == {"DataType": "Binary", "BinaryValue": b"\x01"}
    assert outgoing_attributes({"a": received, "vmsg-parked-reason": BOTO3["who"]}) == {
        "a": {"DataType": "Binary", "BinaryValue": b"\x01"}
    }


def test_size_attributes_are_reserved_and_hidden() -> None:
    """The extended clients' size attributes, current name first, are neither sendable by a
    user nor handed to one as a plain attribute."""
    assert SIZE_ATTRIBUTES[0] == EXTENDED_PAYLOAD_SIZE == "ExtendedPayloadSize"
    for name in SIZE_ATTRIBUTES:
        with pytest.raises(LimitExceededError, match="reserved for large-payload pointers"):
            user_attributes({name: 1}, "test")
        assert plain_attributes({name: {"DataType": "Number", "StringValue": "1"}}) == {}
