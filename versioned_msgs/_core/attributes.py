"""Message attributes: their names, their three shapes, and SQS's digest of them.

One attribute travels in three shapes: boto3's (``DataType``/``StringValue``/``BinaryValue``),
Lambda's SQS records (``dataType``/``stringValue``/``binaryValue``, base64 binaries) and SNS's
(``Type``/``Value``). Everything that reads or converts attributes comes here. Pure: no AWS
client, no registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "ATTR_CONTENT_TYPE",
    "ATTR_PARKED_ENCODING",
    "ATTR_PARKED_REASON",
    "ATTR_PRODUCER",
    "ATTR_READABLE_BY",
    "ATTR_TYPE",
    "ATTR_VERSION",
    "EXTENDED_PAYLOAD_SIZE",
    "PREFIX",
    "SIZE_ATTRIBUTES",
    "attribute_parts",
    "attribute_text",
    "attributes_digest",
    "boto3_attributes",
    "lambda_attribute",
    "plain_attributes",
    "send_attribute",
    "sns_attribute",
]

ATTR_TYPE = "vmsg-type"
ATTR_VERSION = "vmsg-version"
ATTR_READABLE_BY = "vmsg-readable-by"
ATTR_PRODUCER = "vmsg-producer"
ATTR_CONTENT_TYPE = "vmsg-content-type"
ATTR_PARKED_REASON = "vmsg-parked-reason"
# On a parked message whose body could not travel as it was: how the body is wrapped.
ATTR_PARKED_ENCODING = "vmsg-parked-encoding"
PREFIX = "vmsg-"


# The payload size the AWS extended clients add beside a pointer; SIZE_ATTRIBUTES also
# holds the name their older versions used.
EXTENDED_PAYLOAD_SIZE = "ExtendedPayloadSize"
SIZE_ATTRIBUTES = (EXTENDED_PAYLOAD_SIZE, "SQSLargePayloadSize")


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _b64(value: object) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        import base64
        import binascii

        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            return None
    return None


def attributes_digest(attrs: Mapping[str, Any]) -> str | None:
    """SQS's MD5 of a message's attributes (``md5OfMessageAttributes``), computed from
    Lambda's SQS shape; None when an attribute is not in that shape.

    SQS's algorithm: for each attribute in name order, the name, the data type, a transport
    byte (1 for String and Number, 2 for Binary) and the value (UTF-8, or the binary bytes),
    each but the transport byte preceded by its length as 4 big-endian bytes.
    """
    import hashlib

    parts: list[bytes] = []
    try:
        for name in sorted(attrs):
            attr = attrs[name]
            dtype = attr["dataType"]
            if dtype.startswith("Binary"):
                value = _b64(attr["binaryValue"])
                if value is None:
                    return None
                transport = b"\x02"
            else:
                value = attr["stringValue"].encode()
                transport = b"\x01"
            for part in (name.encode(), dtype.encode()):
                parts += (len(part).to_bytes(4, "big"), part)
            parts += (transport, len(value).to_bytes(4, "big"), value)
    except (KeyError, TypeError, AttributeError, UnicodeError):
        return None
    return hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()


def attribute_parts(attr: Any) -> tuple[Any, Any, Any]:
    """(data type, string value, binary value) of an attribute in any of the three shapes.

    The shape is told by its data-type key, Lambda's first, then boto3's, else SNS's; an
    SNS binary's ``Value`` is the binary value (still base64). Not a mapping: all None.
    """
    if not isinstance(attr, Mapping):
        return None, None, None
    if "dataType" in attr:
        return attr.get("dataType"), attr.get("stringValue"), attr.get("binaryValue")
    if "DataType" in attr:
        return attr.get("DataType"), attr.get("StringValue"), attr.get("BinaryValue")
    dtype = attr.get("Type")
    value = attr.get("Value")
    if isinstance(dtype, str) and dtype.startswith("Binary"):
        return dtype, None, value
    return dtype, value, None


def attribute_text(attr: Mapping[str, Any]) -> tuple[Any, Any]:
    """(data type, string value) of a String or Number attribute in any of the three shapes.

    The shape is told by the data-type key, as in :func:`attribute_parts`, so one attribute
    is always read in one shape: a mapping that mixes ``stringValue`` and ``StringValue``
    gives every reader (the stamp, the SQS fast path's table) the same value.
    """
    if "dataType" in attr:
        return attr.get("dataType"), attr.get("stringValue")
    if "DataType" in attr:
        return attr.get("DataType"), attr.get("StringValue")
    return attr.get("Type"), attr.get("Value")


def plain_attributes(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The user's own message attributes as plain values (``vmsg-*`` removed).

    String -> str, Number -> int or float, Binary -> bytes, SNS String.Array -> list.
    """
    out: dict[str, Any] = {}
    if not attrs:
        return out
    for name, attr in attrs.items():
        if name.startswith(PREFIX):
            continue
        # Lambda's SQS shape with a String value is by far the most common case.
        if type(attr) is dict and attr.get("dataType") == "String":
            sval = attr.get("stringValue")
            if type(sval) is str:
                out[name] = sval
                continue
        if name in SIZE_ATTRIBUTES:
            continue
        dtype, sval, bval = attribute_parts(attr)
        if not isinstance(dtype, str):
            continue
        if dtype.startswith("Binary"):
            data = _b64(bval)
            if data is not None:
                out[name] = data
        elif not isinstance(sval, str):
            continue
        elif dtype.startswith("Number"):
            out[name] = _number(sval)
        elif dtype == "String.Array":
            try:
                out[name] = msgspec.json.decode(sval)
            except (msgspec.DecodeError, RecursionError):
                out[name] = sval
        else:
            out[name] = sval
    return out


def boto3_attributes(attrs: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Attributes in any shape converted to boto3 SQS ``MessageAttributes``.

    Returns the converted attributes and the names that could not be carried (an attribute
    with no value for its type); SNS ``String.Array`` travels as ``String``.
    """
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for name, attr in (attrs or {}).items():
        dtype, sval, bval = attribute_parts(attr)
        if not isinstance(dtype, str):
            dropped.append(name)
            continue
        if dtype.startswith("Binary"):
            data = _b64(bval)
            if data is None:
                dropped.append(name)
            else:
                out[name] = {"DataType": dtype, "BinaryValue": data}
        elif isinstance(sval, str):
            out[name] = {
                "DataType": "String" if dtype == "String.Array" else dtype,
                "StringValue": sval,
            }
        else:
            dropped.append(name)
    return out, dropped


def send_attribute(attr: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 attribute as received, in the shape SendMessage takes: its DataType and its
    StringValue and/or BinaryValue (the list fields SQS returns are not accepted on send)."""
    out: dict[str, Any] = {"DataType": attr["DataType"]}
    if "StringValue" in attr:
        out["StringValue"] = attr["StringValue"]
    if "BinaryValue" in attr:
        out["BinaryValue"] = attr["BinaryValue"]
    return out


def lambda_attribute(attr: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 attribute in Lambda's SQS shape, list fields included, binaries in base64."""
    import base64

    out: dict[str, Any] = {}
    if "StringValue" in attr:
        out["stringValue"] = attr["StringValue"]
    if "BinaryValue" in attr:
        raw = attr["BinaryValue"]
        out["binaryValue"] = base64.b64encode(
            raw if isinstance(raw, bytes | bytearray) else str(raw).encode()
        ).decode()
    out["stringListValues"] = list(attr.get("StringListValues", []))
    out["binaryListValues"] = [
        base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
        for v in attr.get("BinaryListValues", [])
    ]
    out["dataType"] = attr.get("DataType")
    return out


def sns_attribute(attr: Mapping[str, Any]) -> dict[str, str]:
    """A boto3 attribute with a value in SNS's shape (a binary's ``Value`` in base64)."""
    if "BinaryValue" in attr:
        import base64

        return {"Type": attr["DataType"], "Value": base64.b64encode(attr["BinaryValue"]).decode()}
    return {"Type": attr["DataType"], "Value": attr["StringValue"]}
