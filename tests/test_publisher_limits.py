"""Every limit is raised before any request; pins fail at construction; large payloads."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_publisher import ORDER, Calls, OrderV1, OrderV2, _queue, _receive, make_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator


class Note(msgspec.Struct):
    text: str


def note_registry() -> vm.Registry:
    reg = make_registry()
    reg.message("note", version=1)(Note)
    return reg


@pytest.fixture
def wired(aws: Emulator) -> tuple[vm.Publisher, Calls, str, str]:
    """A publisher with real clients whose every API call is counted; a queue and a topic."""
    clients = {s: aws.client(s) for s in ("sqs", "sns", "s3", "kinesis", "events")}
    url = clients["sqs"].create_queue(QueueName="q")["QueueUrl"]
    topic = clients["sns"].create_topic(Name="t")["TopicArn"]
    calls = Calls(*clients.values())
    return vm.Publisher(note_registry(), **clients), calls, url, topic


def _note_of_size(total: int, attrs_bytes: int = 0) -> Note:
    """A Note whose JSON body plus ``attrs_bytes`` is exactly ``total`` bytes."""
    overhead = len(b'{"text":""}')
    return Note(text="x" * (total - overhead - attrs_bytes))


# vmsg-type/String/note + vmsg-version/Number/1 = 9+6+4 + 12+6+1
NOTE_STAMP_BYTES = 38


def _limit_cases(url: str, topic: str) -> list[tuple[str, Any]]:
    big_sqs = _note_of_size(1_048_576 - NOTE_STAMP_BYTES + 1)
    big_sns = _note_of_size(262_144 - NOTE_STAMP_BYTES + 1)
    many = {f"a{i}": "v" for i in range(9)}
    return [
        ("SQS message size", lambda p: p.send(url, big_sqs)),
        ("SQS message size", lambda p: p.send(url, Note("x" * 2000), max_message_bytes=1024)),
        ("SNS message size", lambda p: p.publish(topic, big_sns)),
        ("message attribute count", lambda p: p.send(url, ORDER, attributes=many)),
        ("message attribute count", lambda p: p.publish(topic, ORDER, attributes=many)),
        ("message attribute name", lambda p: p.send(url, ORDER, attributes={"a b": "v"})),
        ("reserved attribute prefix", lambda p: p.publish(topic, ORDER, attributes={"vmsg-x": 1})),
        ("SQS character set", lambda p: p.send(url, vm.Encoded(b'"\x01"', _stamp()))),
        ("SQS character set", lambda p: p.send(url, Note("lone \ud800 surrogate"))),
        ("SQS character set", lambda p: p.put_events([Note("\udfff")], source="app")),
        ("SNS subject", lambda p: p.publish(topic, ORDER, subject="two\nlines")),
        ("FIFO message group id", lambda p: p.send(url + ".fifo", ORDER)),
        ("FIFO message group id", lambda p: p.publish(topic + ".fifo", ORDER)),
        ("SQS DelaySeconds", lambda p: p.send(url, ORDER, delay_seconds=901)),
        ("S3 user metadata size", lambda p: p.put_object("bk", "k", ORDER, {"m": "v" * 2048})),
        ("S3 object key length", lambda p: p.put_object("bk", "\u00e9" * 513, ORDER)),
        ("S3 object key length", lambda p: p.put_object("bk", "", ORDER)),
        ("S3 metadata value", lambda p: p.put_object("bk", "k", ORDER, {"m": "caf\u00e9"})),
        ("reserved metadata prefix", lambda p: p.put_object("bk", "k", ORDER, {"vmsg-x": "1"})),
        ("Kinesis record size", lambda p: p.put_record("s", _note_of_size(1_048_576), "k")),
        ("Kinesis partition key length", lambda p: p.put_record("s", ORDER, "k" * 257)),
        (
            "EventBridge entry size",
            lambda p: p.put_events([Note("x" * 2000)], source="app", max_request_bytes=1024),
        ),
        ("EventBridge source", lambda p: p.put_events([ORDER], source="aws.orders")),
        ("SQS message size", lambda p: p.send_batch(url, [ORDER] * 24 + [big_sqs])),
        ("SNS subject", lambda p: p.publish_batch(topic, [ORDER] * 3, subject="x" * 101)),
        ("Kinesis partition key length", lambda p: p.put_records("s", [ORDER], "")),
    ]


def _stamp() -> vm.Stamp:
    return vm.Stamp(type="note", version=1)


def test_every_limit_raises_before_any_request(
    wired: tuple[vm.Publisher, Calls, str, str],
) -> None:
    """Each case raises LimitExceededError naming its limit, and no API call is made."""
    pub, calls, url, topic = wired
    made = len(calls.names)
    for limit, act in _limit_cases(url, topic):
        with pytest.raises(vm.LimitExceededError) as info:
            act(pub)
        assert info.value.limit == limit, str(info.value)
        assert info.value.allowed is not None or limit.startswith("SQS Delay")
    assert len(calls.names) == made


def test_size_limits_count_attributes_and_the_boundary_is_exact(
    wired: tuple[vm.Publisher, Calls, str, str],
) -> None:
    """A message of exactly 1 MiB (body + attributes, UTF-8) goes out; one byte more does not."""
    pub, calls, url, topic = wired
    attrs = {"tenant": "ü"}  # 6 + 6 + 2 bytes
    fits = _note_of_size(1_048_576 - NOTE_STAMP_BYTES, attrs_bytes=14)
    pub.send(url, fits, attributes=attrs)
    assert calls.names[-1] == "SendMessage"
    over = _note_of_size(1_048_576 - NOTE_STAMP_BYTES + 1, attrs_bytes=14)
    with pytest.raises(vm.LimitExceededError) as info:
        pub.send(url, over, attributes=attrs)
    assert (info.value.allowed, info.value.actual) == (1_048_576, 1_048_577)
    assert "body 1,048,525 + attributes 52" in str(info.value)
    pub.publish(topic, _note_of_size(262_144 - NOTE_STAMP_BYTES))
    assert calls.names[-1] == "Publish"


def test_attribute_count_error_says_how_many_are_ours(
    wired: tuple[vm.Publisher, Calls, str, str],
) -> None:
    """7 user attributes + type, version, producer = 10 fits; 8 do not, and the text says so."""
    pub, _, url, _ = wired
    pub = vm.Publisher(note_registry(), sqs=pub._client("sqs"), producer="p:1")
    pub.send(url, ORDER, attributes={f"a{i}": i for i in range(7)})
    with pytest.raises(vm.LimitExceededError) as info:
        pub.send(url, ORDER, attributes={f"a{i}": i for i in range(8)})
    assert "got 11 (the stamp: vmsg-type, vmsg-version, vmsg-producer; yours: a0, a1, " in str(
        info.value
    )
    assert str(info.value).endswith("a6, a7)")


def test_noncharacters_in_a_payload_are_escaped_so_the_message_is_deliverable(
    aws: Emulator,
) -> None:
    """U+FFFE/U+FFFF in a string field go out escaped and come back as the same text."""
    sqs, url, _ = _queue(aws)
    note = Note(text="a\ufffeb\uffffc\x00d")
    vm.Publisher(note_registry()).send(url, note)
    [m] = _receive(sqs, url)
    assert "\\ufffe" in m["Body"]
    stamp = vm.Stamp.from_message_attributes(m["MessageAttributes"])
    assert note_registry().decode(m["Body"].encode(), stamp)[0] == note


def test_pydantic_payloads_are_escaped_too(aws: Emulator) -> None:
    """A pydantic model with U+FFFF in a field is delivered and reads back unchanged."""

    class Memo(pydantic.BaseModel):
        text: str

    reg = vm.Registry()
    reg.message("memo", version=1)(Memo)
    sqs, url, _ = _queue(aws)
    vm.Publisher(reg).send(url, Memo(text="\uffff\ufffe"))
    [m] = _receive(sqs, url)
    stamp = vm.Stamp.from_message_attributes(m["MessageAttributes"])
    assert reg.decode(m["Body"].encode(), stamp)[0] == Memo(text="\uffff\ufffe")
    with pytest.raises(vm.LimitExceededError, match="lone surrogate"):
        vm.Publisher(reg).send(url, Memo(text="\ud800"))


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_any_text_a_model_holds_goes_out_as_valid_sqs_text(text: str) -> None:
    """Whatever a str field holds, the body sent is SQS-legal and decodes to the same value
    (or, for lone surrogates, which have no UTF-8 form, LimitExceededError)."""
    sent: list[str] = []

    class Sink:
        def send_message(self, **request: Any) -> dict[str, str]:
            sent.append(request["MessageBody"])
            return {"MessageId": "m"}

    pub = vm.Publisher(note_registry(), sqs=Sink())
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        with pytest.raises(vm.LimitExceededError, match="lone surrogate"):
            pub.send("https://q", Note(text))
        return
    pub.send("https://q", Note(text))
    assert note_registry().decode(sent[0].encode(), vm.Stamp(type="note", version=1))[0] == (
        Note(text)
    )


# ---- pins -------------------------------------------------------------------------------


def test_a_pin_without_downgrader_fails_when_the_publisher_is_built() -> None:
    """The missing step is named at construction, not on the first send."""
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("order.created", version=2)(OrderV2)
    with pytest.raises(vm.UnsupportedVersionError) as info:
        vm.Publisher(reg, pins={"order.created": 1})
    assert isinstance(info.value, vm.RegistryError)  # a cold-start configuration gap too
    assert (info.value.type, info.value.version, info.value.current) == ("order.created", 2, 2)
    assert info.value.problems == [str(info.value)]
    assert str(info.value) == (
        "Publisher(pins=...): order.created is pinned to v1, but order.created v2 cannot be "
        "converted to v1: no downgrader from v2 to v1 is registered"
    )


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ("order.created=one", "expected comma-separated TYPE=VERSION pins"),
        ("order.created=1,", "got '' in"),
        ("order.created=01", "got 'order.created=01'"),
        ("order.created=1,order.created=2", "order.created is pinned twice"),
        ("nope=1", "pins 'nope', which this registry does not know"),
        ("order.created=3", "pinned to v3, newer than this registry's current v2"),
    ],
)
def test_pins_from_the_environment_are_parsed_strictly(
    monkeypatch: pytest.MonkeyPatch, env: str, text: str
) -> None:
    """Malformed VERSIONED_MSGS_PINS raise RegistryError naming the variable and the item."""
    monkeypatch.setenv("VERSIONED_MSGS_PINS", env)
    with pytest.raises(vm.RegistryError) as info:
        vm.Publisher(make_registry())
    assert "VERSIONED_MSGS_PINS" in str(info.value)
    assert text in str(info.value)


def test_pin_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """pins= replaces VERSIONED_MSGS_PINS; an empty variable pins nothing."""
    monkeypatch.setenv("VERSIONED_MSGS_PINS", "order.created=1")
    assert vm.Publisher(make_registry(), pins={}).pins == {}
    monkeypatch.setenv("VERSIONED_MSGS_PINS", " order.created=1 ")
    assert vm.Publisher(make_registry()).pins == {"order.created": 1}
    monkeypatch.setenv("VERSIONED_MSGS_PINS", "")
    assert vm.Publisher(make_registry()).pins == {}


def test_pins_cap_versions_and_older_models_stay_as_they_are() -> None:
    """A pin is a ceiling: an older model instance below it is written at its own version."""
    pub = vm.Publisher(make_registry(), pins={"order.created": 1})
    assert pub.encode(ORDER).stamp.version == 1
    assert pub.encode(OrderV1(order_id="a", total=1)).stamp.version == 1
    unpinned = vm.Publisher(make_registry())
    assert unpinned.encode(OrderV1(order_id="a", total=1)).stamp.version == 1


# ---- large payloads ---------------------------------------------------------------------


POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"


def test_large_sqs_message_goes_to_s3_with_an_extended_client_pointer(aws: Emulator) -> None:
    """Over 1 MiB: the body is a stamped S3 object; the message is the AWS pointer."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="large-bucket")
    sqs, url, _ = _queue(aws)
    big = Note(text="x" * 1_100_000)
    pub = vm.Publisher(note_registry(), large_payload_bucket="large-bucket", producer="p:1")
    pub.send(url, big, attributes={"tenant": "acme"})
    [m] = _receive(sqs, url)
    kind, where = json.loads(m["Body"])
    assert kind == POINTER
    assert set(where) == {"s3BucketName", "s3Key"}
    assert where["s3BucketName"] == "large-bucket"
    assert where["s3Key"].startswith("vmsg-large/note/")
    assert m["Body"] == (
        f'["{POINTER}",{{"s3BucketName":"large-bucket","s3Key":"{where["s3Key"]}"}}]'
    )
    body = b'{"text":"' + b"x" * 1_100_000 + b'"}'
    assert m["MessageAttributes"] == {
        "ExtendedPayloadSize": {"DataType": "Number", "StringValue": str(len(body))},
        "vmsg-type": {"DataType": "String", "StringValue": "note"},
        "vmsg-version": {"DataType": "Number", "StringValue": "1"},
        "vmsg-producer": {"DataType": "String", "StringValue": "p:1"},
        "tenant": {"DataType": "String", "StringValue": "acme"},
    }
    obj = s3.get_object(Bucket="large-bucket", Key=where["s3Key"])
    assert obj["Body"].read() == body
    assert obj["ContentType"] == "application/json"
    assert obj["Metadata"] == {"vmsg-type": "note", "vmsg-version": "1", "vmsg-producer": "p:1"}


def test_large_sns_message_is_offloaded_over_256_kib(aws: Emulator) -> None:
    """SNS offloads above 256 KiB; raw delivery hands the pointer and size to SQS."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="large-bucket")
    sns = aws.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sqs, url, arn = _queue(aws)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    pub = vm.Publisher(note_registry(), large_payload_bucket="large-bucket")
    result = pub.publish_batch(topic, [Note("small"), Note("y" * 300_000)])
    assert result.ok
    got = {m["Body"][:2]: m for m in _receive(sqs, url, 2)}
    assert set(got) == {'{"', '["'}
    pointer = got['["']
    assert json.loads(pointer["Body"])[0] == POINTER
    assert pointer["MessageAttributes"]["ExtendedPayloadSize"]["StringValue"] == "300011"
    assert "ExtendedPayloadSize" not in got['{"']["MessageAttributes"]


def test_without_a_large_payload_bucket_an_oversized_message_raises(aws: Emulator) -> None:
    """No bucket, no claim check: LimitExceededError and nothing written anywhere."""
    pub = vm.Publisher(note_registry())
    with pytest.raises(vm.LimitExceededError, match="SNS message size is at most 262,144"):
        pub.publish("arn:aws:sns:us-east-1:123456789012:t", Note("y" * 300_000))


def test_the_pointer_message_still_counts_attributes(aws: Emulator) -> None:
    """ExtendedPayloadSize is one more of our attributes: 7 user ones + 3 stamp + it = 11."""
    pub = vm.Publisher(note_registry(), large_payload_bucket="large-bucket")
    with pytest.raises(vm.LimitExceededError, match=r"got 11 \(the stamp: .*; yours: a0, "):
        pub.send(
            "https://q",
            Note("z" * 1_100_000),
            attributes={f"a{i}": "v" for i in range(8)},
        )
