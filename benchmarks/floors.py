"""Each source's floor: the least work that source needs, written as a plain loop.

A floor decodes every record of an event into the model and does nothing else: no stamp
check, no routing, no ``Meta``, no handler, no error handling. Each consumer figure is the
consumer's time over its own source's floor, timed in the same run on the same event.
Decoding calls take the form ``msgspec.json.decode(data, type=T)`` throughout (the form the
SQS floor has always had), so the floors of different sources compare with each other.

Every function here takes the model (and, for S3, the client stub) and returns the floor
as a function of one event.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import msgspec

Event = dict[str, Any]
Floor = Callable[[Any], None]


class VmsgHead(msgspec.Struct):
    """The ``vmsg`` member of an embedded envelope: the stamp the floor reads with the data."""

    type: str
    version: int
    producer: str | None = None
    readable_by: int | None = None


class SnsAttribute(msgspec.Struct):
    """One entry of an SNS envelope's ``MessageAttributes``."""

    Type: str
    Value: str


class SnsEnvelope(msgspec.Struct):
    """What a reader needs of an SNS envelope: the message and its attributes (the stamp)."""

    Message: str
    MessageAttributes: dict[str, SnsAttribute] = {}


class _S3Bucket(msgspec.Struct):
    name: str


class _S3Object(msgspec.Struct):
    key: str


class _S3Entity(msgspec.Struct):
    bucket: _S3Bucket
    object: _S3Object


class _S3Record(msgspec.Struct):
    s3: _S3Entity


class S3Notification(msgspec.Struct):
    """What a reader needs of an S3 notification: each record's bucket name and key."""

    Records: list[_S3Record]


def embedded(model: type[Any]) -> type[msgspec.Struct]:
    """``{"vmsg": VmsgHead, "data": model}``: the embedded envelope around ``model``."""
    return msgspec.defstruct("Embedded", [("vmsg", VmsgHead), ("data", model)])


def sqs(model: type[Any]) -> Floor:
    """Raw SQS (and SNS → SQS with raw delivery on, FIFO queues, events without digests):
    ``msgspec.json.decode(record["body"], type=model)`` for each record."""
    decode = msgspec.json.decode

    def run(event: Event) -> None:
        for record in event["Records"]:
            decode(record["body"], type=model)

    return run


def sqs_each(models: list[type[Any]]) -> Floor:
    """A mixed-version SQS batch: each record's body decoded into its own version's model
    (``models[i]`` for record i)."""
    decode = msgspec.json.decode

    def run(event: Event) -> None:
        for record, model in zip(event["Records"], models, strict=True):
            decode(record["body"], type=model)

    return run


def sqs_pydantic(model: Any) -> Floor:
    """Raw SQS with a pydantic model: ``model.model_validate_json(record["body"])`` for each
    record."""
    validate = model.model_validate_json

    def run(event: Event) -> None:
        for record in event["Records"]:
            validate(record["body"])

    return run


def sqs_dict_upgrade(model: type[Any], upgrader: Callable[[dict[str, Any]], Any]) -> Floor:
    """One dict upgrade step over SQS bodies, the pipeline the dict form cannot skip: each
    body decoded into builtins (``msgspec.json.decode(body)``), passed to ``upgrader`` (the
    registry's own upgrader function) and the result converted into the current model
    (``msgspec.convert(data, model)``)."""
    decode = msgspec.json.decode
    convert = msgspec.convert

    def run(event: Event) -> None:
        for record in event["Records"]:
            convert(upgrader(decode(record["body"])), model)

    return run


def sns_sqs(model: type[Any]) -> Floor:
    """SNS → SQS, raw delivery off: each body decoded into :class:`SnsEnvelope` (``Message``
    and ``MessageAttributes``, every other envelope field skipped by the decoder), then
    ``Message`` decoded into ``model``."""
    decode = msgspec.json.decode

    def run(event: Event) -> None:
        for record in event["Records"]:
            envelope = decode(record["body"], type=SnsEnvelope)
            decode(envelope.Message, type=model)

    return run


def sns_sqs_pydantic(model: Any) -> Floor:
    """SNS → SQS, raw delivery off, a pydantic model: each body decoded into
    :class:`SnsEnvelope` with msgspec, then ``model.model_validate_json(envelope.Message)``."""
    decode = msgspec.json.decode
    validate = model.model_validate_json

    def run(event: Event) -> None:
        for record in event["Records"]:
            validate(decode(record["body"], type=SnsEnvelope).Message)

    return run


def kinesis(model: type[Any]) -> Floor:
    """Kinesis: each record's ``kinesis.data`` through ``base64.b64decode``, then decoded
    into the embedded envelope ``{"vmsg": VmsgHead, "data": model}``."""
    decode = msgspec.json.decode
    b64decode = base64.b64decode
    envelope = embedded(model)

    def run(event: Event) -> None:
        for record in event["Records"]:
            decode(b64decode(record["kinesis"]["data"]), type=envelope)

    return run


def eventbridge_sqs(model: type[Any]) -> Floor:
    """EventBridge → SQS: each body (the EventBridge event) decoded into a Struct holding
    only ``detail``, itself ``{"vmsg": VmsgHead, "data": model}`` (the event's other
    fields skipped by the decoder)."""
    decode = msgspec.json.decode
    event_type = msgspec.defstruct("EventBridgeEvent", [("detail", embedded(model))])

    def run(event: Event) -> None:
        for record in event["Records"]:
            decode(record["body"], type=event_type)

    return run


def eventbridge_lambda(model: type[Any]) -> Floor:
    """EventBridge → Lambda: the event is already a dict (the runtime decoded it), so
    ``msgspec.convert(event["detail"]["data"], model)``, for each event of a list of
    single-event invocations."""
    convert = msgspec.convert

    def run(events: list[Event]) -> None:
        for event in events:
            convert(event["detail"]["data"], model)

    return run


def s3_sqs(model: type[Any], s3: Any) -> Floor:
    """S3 notifications via SQS, the non-network part: each body decoded into
    :class:`S3Notification`; for each object it names, ``s3.get_object(Bucket=..., Key=...)``
    on the same in-memory client stub the consumer reads from, the response's ``Body``
    read, and the bytes decoded into ``model``. (No URL-decoding of the key, no ETag
    condition, no size check, no stamp read: the consumer does all four.)"""
    decode = msgspec.json.decode
    get_object = s3.get_object

    def run(event: Event) -> None:
        for record in event["Records"]:
            for entry in decode(record["body"], type=S3Notification).Records:
                s3e = entry.s3
                resp = get_object(Bucket=s3e.bucket.name, Key=s3e.object.key)
                decode(resp["Body"].read(), type=model)

    return run
