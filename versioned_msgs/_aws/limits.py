"""AWS limits, checked before any request: pure functions, no client, no network.

Sizes are UTF-8 bytes. Message attributes count toward a message's size the way SQS counts
them: name + data type + value. Every violation raises :class:`LimitExceededError` with the
limit's name, the allowed and the actual value, and where it happened.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any, NoReturn

from .._core.attributes import PREFIX, SIZE_ATTRIBUTES
from .._core.errors import LimitExceededError

__all__ = [
    "EVENTBRIDGE_MAX_BYTES",
    "KINESIS_MAX_RECORD_BYTES",
    "KINESIS_MAX_REQUEST_BYTES",
    "MAX_MESSAGE_ATTRIBUTES",
    "S3_MAX_METADATA_BYTES",
    "SNS_MAX_MESSAGE_BYTES",
    "SQS_MAX_MESSAGE_BYTES",
    "Attributes",
    "attributes_bytes",
    "check_attribute_count",
    "check_delay",
    "check_eventbridge_source",
    "check_fifo_id",
    "check_s3_key",
    "check_message_size",
    "check_partition_key",
    "check_sqs_text",
    "sqs_text_ok",
    "check_subject",
    "escape_json",
    "eventbridge_entry_bytes",
    "fail",
    "s3_metadata",
    "user_attributes",
]

SQS_MAX_MESSAGE_BYTES = 1_048_576  # 1 MiB since August 2025 (it was 262,144 before)
SNS_MAX_MESSAGE_BYTES = 262_144
EVENTBRIDGE_MAX_BYTES = 1_048_576
KINESIS_MAX_RECORD_BYTES = 1_048_576  # data + partition key
KINESIS_MAX_REQUEST_BYTES = 5_242_880  # PutRecords, all records with their partition keys
KINESIS_MAX_PARTITION_KEY = 256  # Unicode characters
MAX_MESSAGE_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 256
S3_MAX_METADATA_BYTES = 2048
S3_MAX_KEY_BYTES = 1024
SNS_MAX_SUBJECT = 100
FIFO_MAX_ID = 128
SQS_MAX_DELAY = 900
EVENTBRIDGE_MAX_SOURCE = 256
NUMBER_MAX_DIGITS = 38

Attributes = dict[str, dict[str, Any]]

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
# What SQS accepts in a body and in String attribute values (and SNS fans out to SQS).
# (A pattern, not a compiled one: compiling it costs ~5 ms, paid on the first SQS send
# through re's cache instead of at every cold start's import.)
_SQS_FORBIDDEN = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_FIFO_ID_RE = re.compile(r"[!-~]{1,128}")  # alphanumerics and punctuation, no spaces
_HEADER_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_PRINTABLE_ASCII_RE = re.compile(r"[\x20-\x7e]*")
_SUBJECT_START_RE = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]")


def fail(where: str, limit: str, allowed: Any, actual: Any, detail: str) -> NoReturn:
    """Raise :class:`LimitExceededError` with a message saying limit, allowed and found."""
    raise LimitExceededError(f"{where}: {detail}", limit=limit, allowed=allowed, actual=actual)


# ---- message attributes ----------------------------------------------------------------


def check_attribute_name(name: object, where: str) -> str:
    """SQS/SNS attribute-name rules, plus our reserved ``vmsg-`` prefix."""
    limit = "message attribute name"
    if not isinstance(name, str) or not name:
        fail(where, limit, "a non-empty string", name, f"expected an attribute name, got {name!r}")
    if len(name) > MAX_ATTRIBUTE_NAME:
        fail(
            where,
            limit,
            MAX_ATTRIBUTE_NAME,
            len(name),
            f"attribute name {name[:40]!r}... is {len(name)} characters, at most "
            f"{MAX_ATTRIBUTE_NAME} allowed",
        )
    problem = None
    if _NAME_RE.fullmatch(name) is None:
        problem = "may only contain A-Z a-z 0-9 '_' '-' '.'"
    elif name.startswith(".") or name.endswith("."):
        problem = "may not start or end with '.'"
    elif ".." in name:
        problem = "may not contain '..'"
    elif name.lower().startswith(("aws.", "amazon.")):
        problem = "may not start with 'AWS.' or 'Amazon.' (reserved by AWS)"
    if problem is not None:
        fail(where, limit, "[A-Za-z0-9_.-]", name, f"attribute name {name!r} {problem}")
    if name.lower().startswith(PREFIX):
        fail(
            where,
            "reserved attribute prefix",
            f"names not starting with {PREFIX!r}",
            name,
            f"attribute name {name!r}: the {PREFIX!r} prefix is reserved for the version stamp",
        )
    # The extended clients give these names a meaning: a user value would mislead readers.
    if name in SIZE_ATTRIBUTES:
        fail(
            where,
            "reserved attribute name",
            f"names other than {', '.join(SIZE_ATTRIBUTES)}",
            name,
            f"attribute name {name!r} is reserved for large-payload pointers",
        )
    return name


def _number_text(name: str, value: int | float, where: str) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(
                where,
                "Number attribute value",
                "a finite number",
                value,
                f"attribute {name!r}: expected a finite number, got {value}",
            )
        return repr(value)
    text = str(value)
    digits = len(text.lstrip("-"))
    if digits > NUMBER_MAX_DIGITS:
        fail(
            where,
            "Number attribute precision",
            NUMBER_MAX_DIGITS,
            digits,
            f"attribute {name!r} has {digits} digits, at most {NUMBER_MAX_DIGITS} allowed",
        )
    return text


def _text_value(name: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        fail(
            where,
            "attribute value",
            "a non-empty string",
            value,
            f"attribute {name!r}: expected a non-empty string value, got {value!r}",
        )
    check_sqs_text(value, where, f"attribute {name!r}")
    return value


def _one_attribute(name: str, value: object, where: str) -> dict[str, Any]:
    if isinstance(value, bool):
        fail(
            where,
            "attribute value",
            "str, int, float, bytes or a boto3 attribute dict",
            value,
            f"attribute {name!r}: booleans are ambiguous on the wire; send 'true'/'false' "
            f"or 1/0, got {value!r}",
        )
    if isinstance(value, str):
        return {"DataType": "String", "StringValue": _text_value(name, value, where)}
    if isinstance(value, int | float):
        return {"DataType": "Number", "StringValue": _number_text(name, value, where)}
    if isinstance(value, bytes | bytearray):
        if not value:
            fail(where, "attribute value", "non-empty bytes", b"", f"attribute {name!r} is empty")
        return {"DataType": "Binary", "BinaryValue": bytes(value)}
    if isinstance(value, Mapping):
        dtype = value.get("DataType")
        family = dtype.split(".", 1)[0] if isinstance(dtype, str) else None
        extra = set(value) - {"DataType", "StringValue", "BinaryValue"}
        if family not in ("String", "Number", "Binary") or extra:
            fail(
                where,
                "attribute value",
                "{'DataType': 'String'|'Number'|'Binary'[.label], 'StringValue'|'BinaryValue'}",
                value,
                f"attribute {name!r}: expected a boto3 attribute with DataType String, Number "
                f"or Binary and a StringValue or BinaryValue, got {value!r}",
            )
        if family == "Binary":
            raw = value.get("BinaryValue")
            if not isinstance(raw, bytes | bytearray) or not raw:
                fail(
                    where,
                    "attribute value",
                    "non-empty BinaryValue bytes",
                    raw,
                    f"attribute {name!r}: expected non-empty BinaryValue bytes, got {raw!r}",
                )
            return {"DataType": dtype, "BinaryValue": bytes(raw)}
        text = _text_value(name, value.get("StringValue"), where)
        if family == "Number":
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                fail(
                    where,
                    "Number attribute value",
                    "a finite decimal number",
                    text,
                    f"attribute {name!r}: expected a decimal number as StringValue, got {text!r}",
                )
        return {"DataType": dtype, "StringValue": text}
    fail(
        where,
        "attribute value",
        "str, int, float, bytes or a boto3 attribute dict",
        type(value).__name__,
        f"attribute {name!r}: expected str, int, float, bytes or a boto3 attribute dict, "
        f"got {type(value).__name__}",
    )


def user_attributes(attrs: Mapping[str, object] | None, where: str) -> Attributes:
    """The user's attributes in boto3 shape: str -> String, int/float -> Number, bytes -> Binary.

    Names follow AWS's rules and may not use the reserved ``vmsg-`` prefix.
    """
    if not attrs:
        return {}
    out: Attributes = {}
    for name, value in attrs.items():
        check_attribute_name(name, where)
        out[name] = _one_attribute(name, value, where)
    return out


def _attribute_value_bytes(attr: Mapping[str, Any]) -> int:
    raw = attr.get("BinaryValue")
    if raw is not None:
        return len(raw)
    return len(str(attr.get("StringValue", "")).encode())


def attributes_bytes(attrs: Mapping[str, Mapping[str, Any]]) -> int:
    """What attributes add to a message's size: name + data type + value, in UTF-8 bytes."""
    return sum(
        len(name.encode()) + len(str(attr["DataType"]).encode()) + _attribute_value_bytes(attr)
        for name, attr in attrs.items()
    )


def check_attribute_count(
    attrs: Collection[str],
    where: str,
    *,
    stamp: Collection[str] = (),
    trace: Collection[str] = (),
) -> None:
    """At most 10 message attributes. The error names every attribute and who added it:
    the stamp (``stamp``), the trace context (``trace``), the large-payload pointer (its
    size attribute) or the caller."""
    total = len(attrs)
    if total <= MAX_MESSAGE_ATTRIBUTES:
        return
    groups: dict[str, list[str]] = {
        "the stamp": [],
        "the trace context": [],
        "the extended-payload size": [],
        "yours": [],
    }
    for name in attrs:
        if name in stamp:
            who = "the stamp"
        elif name in trace:
            who = "the trace context"
        elif name in SIZE_ATTRIBUTES:
            who = "the extended-payload size"
        else:
            who = "yours"
        groups[who].append(name)
    added = "; ".join(f"{who}: {', '.join(names)}" for who, names in groups.items() if names)
    hint = " (the trace context is added while an OpenTelemetry span is active)" if trace else ""
    fail(
        where,
        "message attribute count",
        MAX_MESSAGE_ATTRIBUTES,
        total,
        f"at most {MAX_MESSAGE_ATTRIBUTES} message attributes are allowed, got {total} "
        f"({added}){hint}",
    )


# ---- bodies -----------------------------------------------------------------------------


def escape_json(body: bytes) -> bytes:
    """Escape U+FFFE and U+FFFF, which JSON encoders write raw and SQS rejects.

    Outside strings JSON is ASCII, so the replacement is exact: the text means the same.
    """
    if b"\xef\xbf" not in body:
        return body
    return body.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")


def sqs_text_ok(text: str) -> bool:
    """True when every character of ``text`` is one SQS accepts in a body or attribute."""
    return re.search(_SQS_FORBIDDEN, text) is None


def check_sqs_text(text: str, where: str, what: str = "body") -> None:
    """The characters SQS accepts: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF."""
    bad = re.search(_SQS_FORBIDDEN, text)
    if bad is not None:
        char = bad.group()
        fail(
            where,
            "SQS character set",
            "#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF",
            f"U+{ord(char):04X}",
            f"{what} contains U+{ord(char):04X} at character {bad.start()}, which SQS rejects "
            f"(allowed: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF)",
        )


def check_message_size(
    limit: str, allowed: int, body_bytes: int, attrs_bytes: int, where: str
) -> None:
    """Body plus attributes must fit ``allowed`` bytes."""
    total = body_bytes + attrs_bytes
    if total > allowed:
        fail(
            where,
            limit,
            allowed,
            total,
            f"{limit} is at most {allowed:,} bytes, got {total:,} (body {body_bytes:,} + "
            f"attributes {attrs_bytes:,})",
        )


def check_subject(subject: object, where: str) -> str:
    """SNS subject: 1-100 ASCII characters, no line breaks or control characters."""
    limit = "SNS subject"
    if not isinstance(subject, str) or not subject:
        fail(where, limit, "a non-empty string", subject, f"expected a subject, got {subject!r}")
    if len(subject) > SNS_MAX_SUBJECT:
        fail(
            where,
            limit,
            SNS_MAX_SUBJECT,
            len(subject),
            f"subject is {len(subject)} characters, at most {SNS_MAX_SUBJECT} allowed",
        )
    if _PRINTABLE_ASCII_RE.fullmatch(subject) is None:
        fail(
            where,
            limit,
            "printable ASCII",
            subject,
            f"subject {subject!r} must be ASCII without line breaks or control characters",
        )
    if _SUBJECT_START_RE.match(subject) is None:
        fail(
            where,
            limit,
            "a letter, number or punctuation mark first",
            subject,
            f"subject {subject!r} must start with a letter, number or punctuation mark",
        )
    return subject


def check_fifo_id(value: object, what: str, where: str) -> str:
    """A FIFO message group or deduplication id: 1-128 alphanumerics and punctuation."""
    if not isinstance(value, str) or _FIFO_ID_RE.fullmatch(value) is None:
        fail(
            where,
            f"FIFO {what}",
            f"1-{FIFO_MAX_ID} alphanumeric or punctuation characters",
            value,
            f"expected {what} to be 1-{FIFO_MAX_ID} alphanumeric or punctuation characters, "
            f"got {value!r}",
        )
    return value


def check_delay(delay: object, fifo: bool, where: str) -> int:
    """SQS per-message delay: 0-900 seconds, and none on FIFO queues (they delay per queue)."""
    limit = "SQS DelaySeconds"
    if fifo:
        fail(
            where,
            limit,
            None,
            delay,
            f"FIFO queues take no per-message delay_seconds (set DelaySeconds on the queue), "
            f"got {delay!r}",
        )
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= SQS_MAX_DELAY:
        fail(
            where,
            limit,
            SQS_MAX_DELAY,
            delay,
            f"expected delay_seconds to be an integer from 0 to {SQS_MAX_DELAY}, got {delay!r}",
        )
    return delay


# ---- S3 ---------------------------------------------------------------------------------


def s3_metadata(
    stamp: Mapping[str, str], user: Mapping[str, str] | None, where: str
) -> dict[str, str]:
    """The stamp's metadata merged with the user's: ASCII, no ``vmsg-`` keys, 2 KiB in all."""
    merged = dict(stamp)
    seen = {k.lower() for k in merged}
    for key, value in (user or {}).items():
        if not isinstance(key, str) or _HEADER_TOKEN_RE.fullmatch(key) is None:
            fail(
                where,
                "S3 metadata key",
                "ASCII letters, digits and !#$%&'*+.^_`|~-",
                key,
                f"metadata key {key!r} must be ASCII letters, digits or !#$%&'*+.^_`|~-",
            )
        if key.lower().startswith(PREFIX):
            fail(
                where,
                "reserved metadata prefix",
                f"keys not starting with {PREFIX!r}",
                key,
                f"metadata key {key!r}: the {PREFIX!r} prefix is reserved for the version stamp",
            )
        if not isinstance(value, str) or _PRINTABLE_ASCII_RE.fullmatch(value) is None:
            fail(
                where,
                "S3 metadata value",
                "printable ASCII",
                value,
                f"metadata {key!r}: expected a printable ASCII string, got {value!r}",
            )
        if key.lower() in seen:
            fail(
                where,
                "S3 metadata key",
                "keys unique ignoring case",
                key,
                f"metadata key {key!r} appears twice once lowercased (S3 lowercases keys)",
            )
        seen.add(key.lower())
        merged[key] = value
    size = sum(len(k.encode()) + len(v.encode()) for k, v in merged.items())
    if size > S3_MAX_METADATA_BYTES:
        fail(
            where,
            "S3 user metadata size",
            S3_MAX_METADATA_BYTES,
            size,
            f"S3 user metadata is at most {S3_MAX_METADATA_BYTES:,} bytes (keys + values), "
            f"got {size:,}",
        )
    return merged


def check_s3_key(key: object, where: str) -> str:
    """An object key: 1-1024 bytes of UTF-8."""
    if not isinstance(key, str) or not 1 <= len(key.encode()) <= S3_MAX_KEY_BYTES:
        size = len(key.encode()) if isinstance(key, str) else key
        fail(
            where,
            "S3 object key length",
            S3_MAX_KEY_BYTES,
            size,
            f"expected an object key of 1-{S3_MAX_KEY_BYTES} UTF-8 bytes, got {size!r}"
            + (" bytes" if isinstance(key, str) else ""),
        )
    return key


# ---- Kinesis and EventBridge ------------------------------------------------------------


def check_partition_key(key: object, data_bytes: int, where: str) -> str:
    """A Kinesis partition key (1-256 characters) and the record size it makes."""
    if not isinstance(key, str) or not 1 <= len(key) <= KINESIS_MAX_PARTITION_KEY:
        fail(
            where,
            "Kinesis partition key length",
            KINESIS_MAX_PARTITION_KEY,
            len(key) if isinstance(key, str) else key,
            f"expected a partition key of 1-{KINESIS_MAX_PARTITION_KEY} characters, got {key!r}"
            if not isinstance(key, str) or len(key) < 1
            else f"partition key is {len(key)} characters, at most "
            f"{KINESIS_MAX_PARTITION_KEY} allowed",
        )
    key_bytes = len(key.encode())
    total = data_bytes + key_bytes
    if total > KINESIS_MAX_RECORD_BYTES:
        fail(
            where,
            "Kinesis record size",
            KINESIS_MAX_RECORD_BYTES,
            total,
            f"Kinesis record size is at most {KINESIS_MAX_RECORD_BYTES:,} bytes, got {total:,} "
            f"(data {data_bytes:,} + partition key {key_bytes:,})",
        )
    return key


def check_eventbridge_source(source: object, where: str) -> str:
    if not isinstance(source, str) or not 1 <= len(source) <= EVENTBRIDGE_MAX_SOURCE:
        fail(
            where,
            "EventBridge source",
            f"1-{EVENTBRIDGE_MAX_SOURCE} characters",
            source,
            f"expected source to be 1-{EVENTBRIDGE_MAX_SOURCE} characters, got {source!r}",
        )
    if source.lower().startswith("aws."):
        fail(
            where,
            "EventBridge source",
            "a source not starting with 'aws.'",
            source,
            f"source {source!r}: the 'aws.' prefix is reserved for AWS services",
        )
    return source


def eventbridge_entry_bytes(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge computes it (Time counts 14 bytes)."""
    size = 14 if entry.get("Time") is not None else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode())
    detail = entry.get("Detail")
    if detail is not None:
        size += len(detail.encode())
    for resource in entry.get("Resources", ()):
        size += len(resource.encode())
    return size
