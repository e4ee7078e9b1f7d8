"""The pure AWS limit checks: sizes in UTF-8 bytes, names, character sets, metadata."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import versioned_msgs as vm
from versioned_msgs._aws import limits as lim

W = "here"


def test_attribute_bytes_count_name_type_and_value_in_utf8() -> None:
    """An attribute costs name + DataType + value bytes, as SQS counts them."""
    attrs = {
        "tenant": {"DataType": "String", "StringValue": "ünï"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
    }
    assert lim.attributes_bytes(attrs) == (6 + 6 + 5) + (4 + 6 + 3)


def test_user_attributes_map_python_values_to_boto3_shapes() -> None:
    """str -> String, int/float -> Number, bytes -> Binary; boto3-shaped values pass through."""
    assert lim.user_attributes(
        {
            "tenant": "acme",
            "priority": 3,
            "ratio": 0.5,
            "raw": b"\x01",
            "custom": {"DataType": "Number.int", "StringValue": "7"},
        },
        W,
    ) == {
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "priority": {"DataType": "Number", "StringValue": "3"},
        "ratio": {"DataType": "Number", "StringValue": "0.5"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x01"},
        "custom": {"DataType": "Number.int", "StringValue": "7"},
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("has space", "may only contain"),
        (".lead", "may not start or end with '.'"),
        ("trail.", "may not start or end with '.'"),
        ("a..b", "may not contain '..'"),
        ("AWS.thing", "reserved by AWS"),
        ("amazon.thing", "reserved by AWS"),
        ("x" * 257, "257 characters, at most 256"),
    ],
)
def test_attribute_name_rules(name: str, problem: str) -> None:
    """Attribute names follow AWS's rules; the error names the limit and the problem."""
    with pytest.raises(vm.LimitExceededError, match="attribute name") as info:
        lim.user_attributes({name: "v"}, W)
    assert problem in str(info.value)
    assert info.value.limit == "message attribute name"


def test_vmsg_prefix_is_reserved_case_insensitively() -> None:
    """User attributes may not start with vmsg- (any case): that prefix is the stamp's."""
    with pytest.raises(vm.LimitExceededError, match="reserved for the version stamp") as info:
        lim.user_attributes({"VMSG-type": "x"}, W)
    assert info.value.limit == "reserved attribute prefix"


def test_extended_payload_size_is_reserved() -> None:
    """ExtendedPayloadSize belongs to large-payload pointers, not to users."""
    with pytest.raises(vm.LimitExceededError, match="large-payload pointers"):
        lim.user_attributes({"ExtendedPayloadSize": 3}, W)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "booleans are ambiguous"),
        ("", "non-empty string"),
        (float("nan"), "finite"),
        (10**40, "41 digits, at most 38"),
        (b"", "is empty"),
        ([1], "got list"),
        ({"DataType": "Weird", "StringValue": "x"}, "DataType String, Number or Binary"),
        ({"DataType": "Number", "StringValue": "abc"}, "decimal number"),
        ("bad\x00char", "U+0000"),
    ],
)
def test_attribute_values_are_checked(value: object, text: str) -> None:
    """Values that AWS would reject (or that are ambiguous) raise before any request."""
    with pytest.raises(vm.LimitExceededError) as info:
        lim.user_attributes({"a": value}, W)
    assert text in str(info.value)


def test_attribute_count_names_every_attribute_and_who_added_it() -> None:
    """More than 10 attributes raises, naming each attribute under who added it: the stamp,
    the trace context, the large-payload pointer's size, or the caller."""
    ten = ["vmsg-type", "vmsg-version", *(f"a{i}" for i in range(8))]
    lim.check_attribute_count(ten, W, stamp=ten[:2])
    eleven = ["x", "vmsg-type", "vmsg-version", "traceparent", "tracestate"]
    eleven += ["ExtendedPayloadSize", *(f"a{i}" for i in range(5))]
    with pytest.raises(vm.LimitExceededError) as info:
        lim.check_attribute_count(
            eleven, W, stamp=["vmsg-type", "vmsg-version"], trace=["traceparent", "tracestate"]
        )
    assert str(info.value) == (
        "here: at most 10 message attributes are allowed, got 11 (the stamp: vmsg-type, "
        "vmsg-version; the trace context: traceparent, tracestate; the extended-payload size: "
        "ExtendedPayloadSize; yours: x, a0, a1, a2, a3, a4) (the trace context is added while "
        "an OpenTelemetry span is active)"
    )
    assert (info.value.limit, info.value.allowed, info.value.actual) == (
        "message attribute count",
        10,
        11,
    )


def test_message_size_names_limit_allowed_and_actual() -> None:
    """Size errors name the limit and show body and attribute bytes."""
    lim.check_message_size("SQS message size", 1_048_576, 1_048_000, 576, W)
    with pytest.raises(vm.LimitExceededError) as info:
        lim.check_message_size("SQS message size", 1_048_576, 1_048_001, 576, W)
    assert str(info.value) == (
        "here: SQS message size is at most 1,048,576 bytes, got 1,048,577 "
        "(body 1,048,001 + attributes 576)"
    )
    assert info.value.actual == 1_048_577


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\ud800", "\ufffe", "\uffff"])
def test_sqs_text_rejects_characters_outside_the_sqs_set(char: str) -> None:
    """Characters outside #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000+ are refused."""
    with pytest.raises(vm.LimitExceededError, match=f"U\\+{ord(char):04X} at character 2"):
        lim.check_sqs_text("ab" + char, W)


@pytest.mark.parametrize(
    "char", ["\t", "\n", "\r", " ", "\ud7ff", "\ue000", "\ufffd", "\U0001f600"]
)
def test_sqs_text_accepts_the_sqs_set(char: str) -> None:
    """The edges of each allowed range pass."""
    lim.check_sqs_text("ab" + char, W)


@given(st.text())
def test_escaped_json_is_always_valid_sqs_text_and_means_the_same(text: str) -> None:
    """Any string msgspec can encode becomes SQS-safe JSON that decodes to the same value."""
    import msgspec

    try:
        raw = msgspec.json.encode({"s": text})
    except UnicodeEncodeError:  # lone surrogates cannot be encoded at all
        return
    body = lim.escape_json(raw)
    lim.check_sqs_text(body.decode(), W)
    assert json.loads(body) == {"s": text}


def test_escape_json_rewrites_only_the_two_noncharacters() -> None:
    """U+FFFE/U+FFFF become \\ufffe/\\uffff; other bytes are left alone."""
    assert lim.escape_json('"\ufffe\uffff\ufffd"'.encode()) == b'"\\ufffe\\uffff\xef\xbf\xbd"'
    body = b'{"a":1}'
    assert lim.escape_json(body) is body


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("x" * 101, "101 characters, at most 100"),
        ("line\nbreak", "without line breaks"),
        ("caf\u00e9", "ASCII"),
        (" leading space", "must start with a letter"),
        ("", "expected a subject"),
    ],
)
def test_sns_subject_rules(subject: str, text: str) -> None:
    """SNS subjects: 1-100 printable ASCII characters starting with a letter/number/punct."""
    with pytest.raises(vm.LimitExceededError) as info:
        lim.check_subject(subject, W)
    assert text in str(info.value)
    assert info.value.limit == "SNS subject"


def test_sns_subject_may_start_with_punctuation() -> None:
    """A subject like '[alert] order' is fine."""
    assert lim.check_subject("[alert] order 1", W) == "[alert] order 1"


def test_fifo_ids() -> None:
    """Group and deduplication ids: 1-128 alphanumerics or punctuation."""
    assert lim.check_fifo_id("a-b_c:1", "message group id", W) == "a-b_c:1"
    for bad in ("", "has space", "x" * 129, 5):
        with pytest.raises(vm.LimitExceededError, match="message group id"):
            lim.check_fifo_id(bad, "message group id", W)


def test_delay_seconds() -> None:
    """0-900 seconds on standard queues; FIFO queues take no per-message delay."""
    assert lim.check_delay(900, False, W) == 900
    with pytest.raises(vm.LimitExceededError, match="from 0 to 900"):
        lim.check_delay(901, False, W)
    with pytest.raises(vm.LimitExceededError, match="FIFO queues take no per-message"):
        lim.check_delay(0, True, W)


def test_s3_metadata_merges_and_counts_keys_and_values() -> None:
    """The user's metadata joins the stamp's; 2 KiB counts every key and value byte."""
    stamp = {"vmsg-type": "t", "vmsg-version": "1"}
    assert lim.s3_metadata(stamp, {"tenant": "acme"}, W) == {**stamp, "tenant": "acme"}
    used = sum(len(k) + len(v) for k, v in stamp.items())
    fits = {"k": "v" * (2048 - used - 1)}
    lim.s3_metadata(stamp, fits, W)
    with pytest.raises(vm.LimitExceededError) as info:
        lim.s3_metadata(stamp, {"k": "v" * (2048 - used)}, W)
    assert info.value.limit == "S3 user metadata size"
    assert (info.value.allowed, info.value.actual) == (2048, 2049)


@pytest.mark.parametrize(
    ("user", "limit"),
    [
        ({"vmsg-type": "x"}, "reserved metadata prefix"),
        ({"Vmsg-Anything": "x"}, "reserved metadata prefix"),
        ({"tenant": "caf\u00e9"}, "S3 metadata value"),
        ({"tenant": "a\nb"}, "S3 metadata value"),
        ({"t\u00e9": "x"}, "S3 metadata key"),
        ({"a b": "x"}, "S3 metadata key"),
        ({"Tenant": "x", "tenant": "y"}, "S3 metadata key"),
    ],
)
def test_s3_metadata_rules(user: dict[str, str], limit: str) -> None:
    """Metadata is ASCII, keys are header tokens unique ignoring case, vmsg- is ours."""
    with pytest.raises(vm.LimitExceededError) as info:
        lim.s3_metadata({"vmsg-type": "t"}, user, W)
    assert info.value.limit == limit


def test_kinesis_partition_key_and_record_size() -> None:
    """Partition keys are 1-256 characters; data + key bytes must fit 1 MiB."""
    assert lim.check_partition_key("k" * 256, 10, W) == "k" * 256
    with pytest.raises(vm.LimitExceededError, match="257 characters, at most 256"):
        lim.check_partition_key("k" * 257, 10, W)
    with pytest.raises(vm.LimitExceededError, match="1-256 characters"):
        lim.check_partition_key("", 10, W)
    lim.check_partition_key("ü", 1_048_574, W)
    with pytest.raises(vm.LimitExceededError) as info:
        lim.check_partition_key("ü", 1_048_575, W)
    assert str(info.value) == (
        "here: Kinesis record size is at most 1,048,576 bytes, got 1,048,577 "
        "(data 1,048,575 + partition key 2)"
    )


def test_eventbridge_entry_size_is_computed_as_eventbridge_does() -> None:
    """Source + DetailType + Detail (+14 for Time, + each resource), in UTF-8 bytes."""
    entry = {"Source": "app", "DetailType": "order.created", "Detail": '{"ü":1}'}
    assert lim.eventbridge_entry_bytes(entry) == 3 + 13 + 8
    timed = {**entry, "Time": "2024-01-01", "Resources": ["arn:x"]}
    assert lim.eventbridge_entry_bytes(timed) == 3 + 13 + 8 + 14 + 5


def test_eventbridge_source_rules() -> None:
    """Sources are 1-256 characters and may not claim the aws. prefix."""
    with pytest.raises(vm.LimitExceededError, match="reserved for AWS services"):
        lim.check_eventbridge_source("aws.s3", W)
    with pytest.raises(vm.LimitExceededError, match="1-256 characters"):
        lim.check_eventbridge_source("", W)
