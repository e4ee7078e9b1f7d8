"""``Publisher``: stamp messages and send them to SNS, SQS, S3, Kinesis and EventBridge.

Every message goes model -> :meth:`Registry.encode` (pins applied) -> carrier -> limit checks
-> request. All checks of a call run before its first request, so a bad message in a batch
sends nothing. boto3 is imported only when a client is first needed.
"""

from __future__ import annotations

import _thread  # (threading itself costs ~1 ms at import; a lock is all we need)
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from .._core.attributes import EXTENDED_PAYLOAD_SIZE
from .._core.envelope import Encoded, pointer_body
from .._core.errors import PinError, RegistryError, UnsupportedVersionError, VersionedMsgsError
from .._core.registry import Registry, check_converters
from .._core.stamp import Stamp, _check_producer, is_json
from .._core.trace import TRACE_NAMES, TraceContext
from .batch import BatchResult, BatchSuccess, EntryOutcome, run_batches
from .limits import (
    EVENTBRIDGE_MAX_BYTES,
    KINESIS_MAX_REQUEST_BYTES,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    Attributes,
    attributes_bytes,
    check_attribute_count,
    check_delay,
    check_eventbridge_source,
    check_fifo_id,
    check_message_size,
    check_partition_key,
    check_s3_key,
    check_sqs_text,
    check_subject,
    escape_json,
    eventbridge_entry_bytes,
    fail,
    s3_metadata,
    user_attributes,
)
from .otel import active_trace

__all__ = ["Publisher", "parse_pins"]

PINS_ENV = "VERSIONED_MSGS_PINS"
LARGE_PREFIX = "vmsg-large"
ID_BATCH_ENTRIES = 10  # SendMessageBatch and PublishBatch
EVENTBRIDGE_BATCH_ENTRIES = 10
KINESIS_BATCH_ENTRIES = 500
SQS_MIN_MESSAGE_BYTES = 1024

# Per-entry codes AWS documents as transient for PutEvents and PutRecords.
_EVENTS_RETRYABLE = frozenset(
    {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}
)
_KINESIS_RETRYABLE = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)
_PIN_RE = re.compile(r"([a-z0-9][a-z0-9._-]{0,127})=([1-9][0-9]{0,9})")

_T = TypeVar("_T")
PerMessage: TypeAlias = _T | Callable[[Any], _T]


def parse_pins(text: str, *, where: str = PINS_ENV) -> dict[str, int]:
    """Parse ``"order.created=1,invoice.paid=3"`` strictly (spaces around items allowed)."""
    pins: dict[str, int] = {}
    if not text.strip():
        return pins
    for item in text.split(","):
        match = _PIN_RE.fullmatch(item.strip())
        if match is None:
            raise RegistryError(
                [
                    f"{where}: expected comma-separated TYPE=VERSION pins such as "
                    f"'order.created=1,invoice.paid=3', got {item.strip()!r} in {text!r}"
                ]
            )
        name, version = match.group(1), int(match.group(2))
        if name in pins:
            raise RegistryError([f"{where}: {name} is pinned twice in {text!r}"])
        pins[name] = version
    return pins


def _default_producer() -> str | None:
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not name:
        return None
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    return f"{name}:{version}" if version else name


def _per_message(value: PerMessage[_T] | None, msg: object) -> _T | None:
    if callable(value):
        return value(msg)
    return value


def _is_fifo(target: str) -> bool:
    return target.endswith(".fifo")


def _trace_unless(names: Iterable[object]) -> TraceContext | None:
    """The active span's trace context, unless the caller already set a ``traceparent`` or
    ``tracestate`` of their own (S3 metadata keys compared lowercased): theirs is sent
    as it is, and none of ours beside it."""
    for name in names:
        if isinstance(name, str) and name.lower() in TRACE_NAMES:
            return None
    return active_trace()


class _Prepared:
    """One SNS/SQS message after encoding and every check, ready for its request."""

    __slots__ = ("attributes", "body", "offload", "size", "stamp")

    def __init__(
        self,
        body: str,
        attributes: Attributes,
        stamp: Stamp,
        size: int,
        offload: tuple[str, bytes] | None,
    ) -> None:
        self.body = body
        self.attributes = attributes
        self.stamp = stamp
        self.size = size
        self.offload = offload


class Publisher:
    """Stamps messages and sends them; every AWS limit is checked before any request.

    Clients not given are made with ``boto3.client(...)`` on first use (boto3 honours
    ``AWS_ENDPOINT_URL``). ``producer`` defaults to ``AWS_LAMBDA_FUNCTION_NAME:VERSION``.
    ``pins`` (or env ``VERSIONED_MSGS_PINS``) caps the version written per type: a message
    newer than its pin is written through the downgraders, which must exist when the
    publisher is built. ``large_payload_bucket`` opts into the claim check for SNS/SQS
    messages over the transport limit. Batch entries AWS marks as transient are retried up to
    ``max_attempts`` times in all, waiting up to ``backoff`` x 2^attempt seconds (jittered).
    ``always_through_s3=True`` sends every SNS/SQS message (single and batch sends) through
    the claim check whatever its size, like the AWS extended clients' option of that name;
    it needs ``large_payload_bucket`` (a ``ValueError`` when the publisher is built).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        sns: Any = None,
        sqs: Any = None,
        s3: Any = None,
        kinesis: Any = None,
        events: Any = None,
        producer: str | None = None,
        pins: Mapping[str, int] | None = None,
        large_payload_bucket: str | None = None,
        always_through_s3: bool = False,
        max_attempts: int = 3,
        backoff: float = 0.1,
    ) -> None:
        check_converters(registry)  # a typed converter naming the wrong model: at cold start
        self._registry = registry
        self._clients: dict[str, Any] = {
            "sns": sns,
            "sqs": sqs,
            "s3": s3,
            "kinesis": kinesis,
            "events": events,
        }
        self._lock = _thread.allocate_lock()
        if producer is None:
            producer = _default_producer()
        if producer is not None:
            _check_producer(producer, "Publisher(producer=...)")
        self.producer = producer
        if pins is None:
            self.pins = parse_pins(os.environ.get(PINS_ENV, ""))
            where = PINS_ENV
        else:
            self.pins = dict(pins)
            where = "Publisher(pins=...)"
        self._check_pins(where)
        self.large_payload_bucket = large_payload_bucket
        if always_through_s3 and not large_payload_bucket:
            raise ValueError("always_through_s3=True needs a large_payload_bucket to write to")
        self.always_through_s3 = bool(always_through_s3)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(
                f"expected max_attempts to be a positive integer, got {max_attempts!r}"
            )
        if not isinstance(backoff, int | float) or not 0 <= backoff < float("inf"):
            raise ValueError(f"expected backoff to be a non-negative number, got {backoff!r}")
        self.max_attempts = max_attempts
        self.backoff = float(backoff)

    @property
    def registry(self) -> Registry:
        return self._registry

    def __repr__(self) -> str:
        return (
            f"Publisher(producer={self.producer!r}, pins={self.pins!r}, "
            f"large_payload_bucket={self.large_payload_bucket!r}, "
            f"always_through_s3={self.always_through_s3!r})"
        )

    def _check_pins(self, where: str) -> None:
        known = self._registry.types()
        for name, pin in self.pins.items():
            if name not in known:
                raise RegistryError(
                    [
                        f"{where}: pins {name!r}, which this registry does not know (known: "
                        f"{', '.join(known) or 'none'})"
                    ]
                )
            if isinstance(pin, bool) or not isinstance(pin, int) or pin < 1:
                raise RegistryError(
                    [f"{where}: expected {name}'s pin to be a positive integer, got {pin!r}"]
                )
            current = self._registry.current(name)
            if pin > current:
                raise RegistryError(
                    [
                        f"{where}: {name} is pinned to v{pin}, newer than this registry's "
                        f"current v{current}"
                    ]
                )
            for version in self._registry.versions(name):
                if version <= pin:
                    continue
                try:
                    self._registry.chain(name, version, pin)
                except UnsupportedVersionError as exc:
                    raise PinError(
                        f"{where}: {name} is pinned to v{pin}, but {exc}",
                        type=name,
                        version=version,
                        current=current,
                    ) from None

    def _client(self, service: str) -> Any:
        client = self._clients[service]
        if client is None:
            with self._lock:
                client = self._clients[service]
                if client is None:
                    import boto3

                    client = self._clients[service] = boto3.client(service)  # type: ignore[call-overload]
        return client

    # ---- encoding -----------------------------------------------------------------------

    def encode(self, msg: object) -> Encoded:
        """What this publisher writes for ``msg``: pins and producer applied, JSON escaped.

        An :class:`Encoded` value passes through unchanged (apart from the escaping).
        """
        return self._encode(msg, "encode")

    def _encode(self, msg: object, where: str) -> Encoded:
        if isinstance(msg, Encoded):
            enc = msg
        else:
            name, version = self._registry.lookup(type(msg))
            pin = self.pins.get(name)
            as_version = pin if pin is not None and version > pin else None
            try:
                enc = self._registry.encode(msg, as_version=as_version, producer=self.producer)
            except ValueError as exc:
                # A lone surrogate (U+D800-U+DFFF) has no UTF-8 form: no transport takes it.
                if isinstance(exc, VersionedMsgsError) or "surrogates not allowed" not in str(exc):
                    raise
                fail(
                    where,
                    "SQS character set",
                    "#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF",
                    "a lone surrogate (U+D800-U+DFFF)",
                    f"the {name} v{version} payload contains a lone surrogate (U+D800-U+DFFF), "
                    f"which has no UTF-8 form and which SQS, SNS and EventBridge reject",
                )
        if is_json(enc.stamp.content_type):
            body = escape_json(enc.body)
            if body is not enc.body:
                enc = Encoded(body, enc.stamp)
        return enc

    def _prepare(
        self,
        msg: object,
        attributes: Mapping[str, object] | None,
        *,
        embed: bool,
        limit: str,
        allowed: int,
        where: str,
    ) -> _Prepared:
        enc = self._encode(msg, where)
        user = user_attributes(attributes, where)
        trace = _trace_unless(user)
        body = enc.embedded(trace) if embed else enc.body
        ours = enc.stamp.to_message_attributes()
        traced = trace.message_attributes() if trace is not None else {}
        attrs: Attributes = {**user, **ours, **traced}
        check_attribute_count(attrs, where, stamp=ours, trace=traced)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            fail(
                where,
                "UTF-8 body",
                "UTF-8 text",
                enc.stamp.content_type,
                f"SNS and SQS carry text, but the {enc.stamp.content_type} body is not UTF-8",
            )
        check_sqs_text(text, where)
        attr_bytes = attributes_bytes(attrs)
        size = len(body) + attr_bytes
        if size <= allowed and not self.always_through_s3:
            return _Prepared(text, attrs, enc.stamp, size, None)
        bucket = self.large_payload_bucket
        if bucket is None:
            check_message_size(limit, allowed, len(body), attr_bytes, where)
        assert bucket is not None
        attrs[EXTENDED_PAYLOAD_SIZE] = {"DataType": "Number", "StringValue": str(len(body))}
        check_attribute_count(attrs, where, stamp=ours, trace=traced)
        key = f"{LARGE_PREFIX}/{enc.stamp.type}/{uuid.uuid4()}"
        pointer = pointer_body(bucket, key)
        pointer_attr_bytes = attributes_bytes(attrs)
        check_message_size(limit, allowed, len(pointer), pointer_attr_bytes, where)
        return _Prepared(
            pointer.decode(), attrs, enc.stamp, len(pointer) + pointer_attr_bytes, (key, body)
        )

    def _offload(self, prepared: Iterable[_Prepared]) -> None:
        """Write the bodies of over-limit messages to the large-payload bucket."""
        for item in prepared:
            if item.offload is None:
                continue
            key, body = item.offload
            self._client("s3").put_object(
                Bucket=self.large_payload_bucket,
                Key=key,
                Body=body,
                ContentType=item.stamp.content_type,
                Metadata=item.stamp.to_s3_metadata(),
            )

    def _run(
        self,
        entries: list[tuple[dict[str, Any], int]],
        call: Callable[[list[tuple[int, dict[str, Any]]]], dict[int, EntryOutcome]],
        *,
        max_entries: int,
        max_bytes: int,
        fifo: bool = False,
    ) -> BatchResult:
        return run_batches(
            entries,
            call,
            max_entries=max_entries,
            max_bytes=max_bytes,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            group_of=_group_of if fifo else None,
        )

    # ---- SQS ----------------------------------------------------------------------------

    def _sqs_entry(
        self,
        queue_url: str,
        msg: object,
        delay_seconds: PerMessage[int] | None,
        group_id: PerMessage[str] | None,
        dedup_id: PerMessage[str] | None,
        attributes: PerMessage[Mapping[str, object]] | None,
        embed: bool,
        max_message_bytes: int | None,
        where: str,
    ) -> tuple[dict[str, Any], _Prepared]:
        allowed = SQS_MAX_MESSAGE_BYTES if max_message_bytes is None else max_message_bytes
        if (
            isinstance(allowed, bool)
            or not isinstance(allowed, int)
            or not SQS_MIN_MESSAGE_BYTES <= allowed <= SQS_MAX_MESSAGE_BYTES
        ):
            raise ValueError(
                f"{where}: expected max_message_bytes from {SQS_MIN_MESSAGE_BYTES} to "
                f"{SQS_MAX_MESSAGE_BYTES}, got {max_message_bytes!r}"
            )
        request: dict[str, Any] = {}
        delay = _per_message(delay_seconds, msg)
        if delay is not None:
            request["DelaySeconds"] = check_delay(delay, _is_fifo(queue_url), where)
        return self._message_entry(
            request,
            queue_url,
            msg,
            group_id,
            dedup_id,
            attributes,
            embed=embed,
            service="SQS",
            allowed=allowed,
            where=where,
        )

    def _message_entry(
        self,
        request: dict[str, Any],
        target: str,
        msg: object,
        group_id: PerMessage[str] | None,
        dedup_id: PerMessage[str] | None,
        attributes: PerMessage[Mapping[str, object]] | None,
        *,
        embed: bool,
        service: str,
        allowed: int,
        where: str,
    ) -> tuple[dict[str, Any], _Prepared]:
        """Complete an SQS or SNS request entry: FIFO ids, body and attributes, all checked."""
        group = _per_message(group_id, msg)
        if group is not None:
            request["MessageGroupId"] = check_fifo_id(group, "message group id", where)
        elif _is_fifo(target):
            fail(
                where,
                "FIFO message group id",
                "a group_id",
                None,
                f"{service} FIFO targets need a group_id (a string, or a callable of the message)",
            )
        dedup = _per_message(dedup_id, msg)
        if dedup is not None:
            request["MessageDeduplicationId"] = check_fifo_id(dedup, "deduplication id", where)
        prepared = self._prepare(
            msg,
            _per_message(attributes, msg),
            embed=embed,
            limit=f"{service} message size",
            allowed=allowed,
            where=where,
        )
        request["MessageBody" if service == "SQS" else "Message"] = prepared.body
        request["MessageAttributes"] = prepared.attributes
        return request, prepared

    def send(
        self,
        queue_url: str,
        msg: object,
        delay_seconds: int | None = None,
        group_id: PerMessage[str] | None = None,
        dedup_id: PerMessage[str] | None = None,
        attributes: PerMessage[Mapping[str, object]] | None = None,
        *,
        embed: bool = False,
        max_message_bytes: int | None = None,
    ) -> str:
        """Send one stamped message to an SQS queue; returns its MessageId.

        ``max_message_bytes``: the queue's ``MaximumMessageSize`` when smaller than 1 MiB.
        """
        request, prepared = self._sqs_entry(
            queue_url,
            msg,
            delay_seconds,
            group_id,
            dedup_id,
            attributes,
            embed,
            max_message_bytes,
            f"send to {queue_url}",
        )
        self._offload([prepared])
        resp = self._client("sqs").send_message(QueueUrl=queue_url, **request)
        return str(resp["MessageId"])

    def send_batch(
        self,
        queue_url: str,
        msgs: Iterable[object],
        delay_seconds: PerMessage[int] | None = None,
        group_id: PerMessage[str] | None = None,
        dedup_id: PerMessage[str] | None = None,
        attributes: PerMessage[Mapping[str, object]] | None = None,
        *,
        embed: bool = False,
        max_message_bytes: int | None = None,
    ) -> BatchResult:
        """Send messages with SendMessageBatch: 10 per call and at most 1 MiB per call.

        Options may be callables of the message (e.g. ``group_id=lambda m: m.customer``).
        """
        pairs = [
            self._sqs_entry(
                queue_url,
                msg,
                delay_seconds,
                group_id,
                dedup_id,
                attributes,
                embed,
                max_message_bytes,
                f"send_batch to {queue_url}, message {i}",
            )
            for i, msg in enumerate(msgs)
        ]
        return self._id_batch(
            pairs,
            queue_url,
            lambda entries: self._client("sqs").send_message_batch(
                QueueUrl=queue_url, Entries=entries
            ),
            max_bytes=SQS_MAX_MESSAGE_BYTES,
        )

    def _id_batch(
        self,
        pairs: list[tuple[dict[str, Any], _Prepared]],
        target: str,
        send: Callable[[list[dict[str, Any]]], Mapping[str, Any]],
        *,
        max_bytes: int,
    ) -> BatchResult:
        """Offload, then send SQS/SNS entries 10 per call, each with its index as ``Id``."""
        self._offload(p for _, p in pairs)

        def call(chunk: list[tuple[int, dict[str, Any]]]) -> dict[int, EntryOutcome]:
            return _id_outcomes(send([{"Id": str(i), **req} for i, req in chunk]))

        return self._run(
            [(req, p.size) for req, p in pairs],
            call,
            max_entries=ID_BATCH_ENTRIES,
            max_bytes=max_bytes,
            fifo=_is_fifo(target),
        )

    # ---- SNS ----------------------------------------------------------------------------

    def _sns_entry(
        self,
        topic_arn: str,
        msg: object,
        subject: PerMessage[str] | None,
        group_id: PerMessage[str] | None,
        dedup_id: PerMessage[str] | None,
        attributes: PerMessage[Mapping[str, object]] | None,
        embed: bool,
        where: str,
    ) -> tuple[dict[str, Any], _Prepared]:
        request: dict[str, Any] = {}
        subj = _per_message(subject, msg)
        if subj is not None:
            request["Subject"] = check_subject(subj, where)
        return self._message_entry(
            request,
            topic_arn,
            msg,
            group_id,
            dedup_id,
            attributes,
            embed=embed,
            service="SNS",
            allowed=SNS_MAX_MESSAGE_BYTES,
            where=where,
        )

    def publish(
        self,
        topic_arn: str,
        msg: object,
        subject: str | None = None,
        group_id: PerMessage[str] | None = None,
        dedup_id: PerMessage[str] | None = None,
        attributes: PerMessage[Mapping[str, object]] | None = None,
        *,
        embed: bool = False,
    ) -> str:
        """Publish one stamped message to an SNS topic; returns its MessageId."""
        request, prepared = self._sns_entry(
            topic_arn,
            msg,
            subject,
            group_id,
            dedup_id,
            attributes,
            embed,
            f"publish to {topic_arn}",
        )
        self._offload([prepared])
        resp = self._client("sns").publish(TopicArn=topic_arn, **request)
        return str(resp["MessageId"])

    def publish_batch(
        self,
        topic_arn: str,
        msgs: Iterable[object],
        subject: PerMessage[str] | None = None,
        group_id: PerMessage[str] | None = None,
        dedup_id: PerMessage[str] | None = None,
        attributes: PerMessage[Mapping[str, object]] | None = None,
        *,
        embed: bool = False,
    ) -> BatchResult:
        """Publish with PublishBatch: 10 per call and at most 256 KiB per call."""
        pairs = [
            self._sns_entry(
                topic_arn,
                msg,
                subject,
                group_id,
                dedup_id,
                attributes,
                embed,
                f"publish_batch to {topic_arn}, message {i}",
            )
            for i, msg in enumerate(msgs)
        ]
        return self._id_batch(
            pairs,
            topic_arn,
            lambda entries: self._client("sns").publish_batch(
                TopicArn=topic_arn, PublishBatchRequestEntries=entries
            ),
            max_bytes=SNS_MAX_MESSAGE_BYTES,
        )

    # ---- S3 -----------------------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        key: str,
        msg: object,
        metadata: Mapping[str, str] | None = None,
        *,
        embed: bool = False,
        **params: Any,
    ) -> dict[str, Any]:
        """Write a stamped object: ``vmsg-*`` metadata, ``ContentType``, your metadata merged.

        Extra keyword arguments go to S3 ``PutObject`` as they are (e.g.
        ``ServerSideEncryption="aws:kms"``, ``IfNoneMatch="*"``). Returns the S3 response.
        """
        taken = sorted({"Bucket", "Key", "Body", "Metadata", "ContentType"} & params.keys())
        if taken:
            raise TypeError(f"put_object: {', '.join(taken)} are set by the publisher")
        where = f"put_object to s3://{bucket}/{key!s:.100}"
        check_s3_key(key, where)
        enc = self._encode(msg, where)
        trace = _trace_unless(metadata or ())
        ours = enc.stamp.to_s3_metadata()
        if trace is not None:
            ours.update(trace.headers())
        meta = s3_metadata(ours, metadata, where)
        body = enc.embedded(trace) if embed else enc.body
        resp: dict[str, Any] = self._client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=enc.stamp.content_type,
            Metadata=meta,
            **params,
        )
        return resp

    # ---- Kinesis ------------------------------------------------------------------------

    def _kinesis_entry(
        self, msg: object, partition_key: PerMessage[str], where: str
    ) -> tuple[dict[str, Any], int]:
        data = self._encode(msg, where).embedded(active_trace())
        key = check_partition_key(_per_message(partition_key, msg), len(data), where)
        return {"Data": data, "PartitionKey": key}, len(data) + len(key.encode())

    def put_record(
        self, stream_name: str, msg: object, partition_key: PerMessage[str]
    ) -> dict[str, Any]:
        """Put one record (the embedded envelope) on a Kinesis stream (name or ARN).

        Returns the response (``ShardId``, ``SequenceNumber``).
        """
        entry, _ = self._kinesis_entry(msg, partition_key, f"put_record to {stream_name}")
        resp: dict[str, Any] = self._client("kinesis").put_record(**_stream(stream_name), **entry)
        return resp

    def put_records(
        self, stream_name: str, msgs: Iterable[object], partition_key: PerMessage[str]
    ) -> BatchResult:
        """Put records with PutRecords: 500 per call and 5 MiB per call."""
        entries = [
            self._kinesis_entry(msg, partition_key, f"put_records to {stream_name}, message {i}")
            for i, msg in enumerate(msgs)
        ]

        def call(chunk: list[tuple[int, dict[str, Any]]]) -> dict[int, EntryOutcome]:
            resp = self._client("kinesis").put_records(
                **_stream(stream_name), Records=[e for _, e in chunk]
            )
            out: dict[int, EntryOutcome] = {}
            for (i, _), rec in zip(chunk, resp.get("Records", []), strict=False):
                code = rec.get("ErrorCode")
                if code:
                    out[i] = EntryOutcome(
                        code=code,
                        message=rec.get("ErrorMessage", ""),
                        retryable=code in _KINESIS_RETRYABLE,
                    )
                else:
                    seq = rec["SequenceNumber"]
                    out[i] = EntryOutcome(
                        BatchSuccess(
                            index=i,
                            message_id=seq,
                            sequence_number=seq,
                            shard_id=rec.get("ShardId"),
                        )
                    )
            return out

        return self._run(
            entries,
            call,
            max_entries=KINESIS_BATCH_ENTRIES,
            max_bytes=KINESIS_MAX_REQUEST_BYTES,
        )

    # ---- EventBridge --------------------------------------------------------------------

    def put_events(
        self,
        msgs: Iterable[object],
        source: str,
        bus_name: str | None = None,
        *,
        max_request_bytes: int = EVENTBRIDGE_MAX_BYTES,
    ) -> BatchResult:
        """Put events: ``DetailType`` = message type, ``Detail`` = the embedded envelope.

        10 entries per call; ``max_request_bytes`` (default 1 MiB) bounds each entry and each
        call, measured as EventBridge does.
        """
        if self._registry_knows(msgs) or isinstance(msgs, Encoded):
            msgs = [msgs]
        entries: list[tuple[dict[str, Any], int]] = []
        for i, msg in enumerate(msgs):
            where = f"put_events to {bus_name or 'default'}, message {i}"
            check_eventbridge_source(source, where)
            enc = self._encode(msg, where)
            entry: dict[str, Any] = {
                "Source": source,
                "DetailType": enc.stamp.type,
                "Detail": enc.embedded(active_trace()).decode(),
            }
            if bus_name is not None:
                entry["EventBusName"] = bus_name
            size = eventbridge_entry_bytes(entry)
            if size > max_request_bytes:
                fail(
                    where,
                    "EventBridge entry size",
                    max_request_bytes,
                    size,
                    f"EventBridge entry size is at most {max_request_bytes:,} bytes, got "
                    f"{size:,} (Source + DetailType + Detail)",
                )
            entries.append((entry, size))

        def call(chunk: list[tuple[int, dict[str, Any]]]) -> dict[int, EntryOutcome]:
            resp = self._client("events").put_events(Entries=[e for _, e in chunk])
            out: dict[int, EntryOutcome] = {}
            for (i, _), rec in zip(chunk, resp.get("Entries", []), strict=False):
                code = rec.get("ErrorCode")
                if code:
                    out[i] = EntryOutcome(
                        code=code,
                        message=rec.get("ErrorMessage", ""),
                        retryable=code in _EVENTS_RETRYABLE,
                    )
                else:
                    out[i] = EntryOutcome(BatchSuccess(index=i, message_id=rec["EventId"]))
            return out

        return self._run(
            entries, call, max_entries=EVENTBRIDGE_BATCH_ENTRIES, max_bytes=max_request_bytes
        )

    def _registry_knows(self, obj: object) -> bool:
        try:
            self._registry.lookup(type(obj))
        except LookupError:
            return False
        return True


def _group_of(request: Mapping[str, Any]) -> str | None:
    group: str | None = request.get("MessageGroupId")
    return group


def _stream(stream: str) -> dict[str, str]:
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


def _id_outcomes(resp: Mapping[str, Any]) -> dict[int, EntryOutcome]:
    """Outcomes of an SQS SendMessageBatch or SNS PublishBatch answer (entries keyed by Id)."""
    out: dict[int, EntryOutcome] = {}
    for ok in resp.get("Successful", []):
        i = int(ok["Id"])
        out[i] = EntryOutcome(
            BatchSuccess(
                index=i, message_id=ok["MessageId"], sequence_number=ok.get("SequenceNumber")
            )
        )
    for bad in resp.get("Failed", []):
        out[int(bad["Id"])] = EntryOutcome(
            code=bad.get("Code", ""),
            message=bad.get("Message", ""),
            retryable=not bad.get("SenderFault", False),
        )
    return out
