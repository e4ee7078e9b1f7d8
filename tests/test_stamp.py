"""The stamp (wire format spec 1): construction, carriers out and in, strict parsing."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import versioned_msgs as vm
from versioned_msgs._core.envelope import embed, looks_embedded, unembed
from versioned_msgs._core.stamp import is_json

# ---- helpers: one attribute in each of the three shapes ---------------------------------


def boto3_attr(dtype: str, value: str) -> dict[str, Any]:
    return {"DataType": dtype, "StringValue": value}


def lambda_attr(dtype: str, value: str) -> dict[str, Any]:
    # What Lambda hands an SQS-triggered function: lower camel case plus empty lists.
    return {
        "stringValue": value,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": dtype,
    }


def sns_attr(dtype: str, value: str) -> dict[str, Any]:
    return {"Type": dtype, "Value": value}


SHAPES = [boto3_attr, lambda_attr, sns_attr]
SHAPE_IDS = ["boto3", "lambda-sqs", "sns"]


def attrs_of(shape: Any, **fields: tuple[str, str]) -> dict[str, Any]:
    """``attrs_of(boto3_attr, type=("String", "x"))`` -> ``{"vmsg-type": {...}}``."""
    return {f"vmsg-{k.replace('_', '-')}": shape(*v) for k, v in fields.items()}


def stamp_error(call: Any, *args: Any, **kwargs: Any) -> vm.StampError:
    with pytest.raises(vm.StampError) as info:
        call(*args, **kwargs)
    return info.value


FULL = vm.Stamp(
    type="order.created",
    version=3,
    readable_by=2,
    producer="orders-api:42",
    content_type="application/vnd.acme+json",
)
FULL_ATTRS = {
    "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
    "vmsg-version": {"DataType": "Number", "StringValue": "3"},
    "vmsg-readable-by": {"DataType": "Number", "StringValue": "2"},
    "vmsg-producer": {"DataType": "String", "StringValue": "orders-api:42"},
    "vmsg-content-type": {"DataType": "String", "StringValue": "application/vnd.acme+json"},
}


# ---- construction -----------------------------------------------------------------------


def test_defaults() -> None:
    """Only type and version are required; content type defaults to JSON."""
    s = vm.Stamp(type="order.created", version=1)
    assert (s.readable_by, s.producer, s.content_type) == (None, None, "application/json")


def test_stamp_is_immutable_and_hashable() -> None:
    """A stamp is a frozen value: equal stamps hash alike and fields cannot be set."""
    a = vm.Stamp(type="a", version=1)
    assert a == vm.Stamp(type="a", version=1)
    assert hash(a) == hash(vm.Stamp(type="a", version=1))
    with pytest.raises(AttributeError):
        a.version = 2  # type: ignore[misc]


def test_stamp_fields_are_keyword_only() -> None:
    """Positional construction is refused, so field order is never part of the API."""
    with pytest.raises(TypeError):
        vm.Stamp("a", 1)  # type: ignore[misc]


def test_repr_names_every_field() -> None:
    """The repr shows every field, for logs and test failures."""
    assert repr(vm.Stamp(type="a", version=1)) == (
        "Stamp(type='a', version=1, readable_by=None, producer=None, "
        "content_type='application/json')"
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        (
            {"type": "Order"},
            "type",
            "stamp: expected type to be a message type matching [a-z0-9][a-z0-9._-]{0,127}, "
            "got 'Order'",
        ),
        (
            {"type": "a" * 129},
            "type",
            None,
        ),
        ({"type": ".a"}, "type", None),
        ({"type": ""}, "type", None),
        (
            {"version": 0},
            "version",
            "stamp: expected version to be a positive integer below 2^31, got 0",
        ),
        ({"version": 2**31}, "version", None),
        ({"version": True}, "version", None),
        ({"version": "2"}, "version", None),
        ({"version": 2.0}, "version", None),
        (
            {"readable_by": 4},
            "readable_by",
            "stamp: expected readable_by to be at most the version (3), got 4",
        ),
        ({"readable_by": 0}, "readable_by", None),
        (
            {"producer": "bad\nline"},
            "producer",
            "stamp: expected producer to be 1-256 printable ASCII characters, got 'bad\\nline'",
        ),
        ({"producer": ""}, "producer", None),
        ({"producer": "é"}, "producer", None),
        ({"producer": "p" * 257}, "producer", None),
        (
            {"content_type": "json"},
            "content_type",
            "stamp: expected content_type to be a media type such as 'application/json', "
            "got 'json'",
        ),
        ({"content_type": "a/" + "b" * 300}, "content_type", None),
        ({"content_type": "applicatión/json"}, "content_type", None),
        ({"content_type": "application/json\n; x=1"}, "content_type", None),
        ({"content_type": "application/json\t;x=1"}, "content_type", None),
    ],
)
def test_construction_validates_every_field(
    kwargs: dict[str, Any], field: str, message: str | None
) -> None:
    """A bad field raises StampError naming the field and carrying the value found."""
    base: dict[str, Any] = {"type": "order.created", "version": 3}
    err = stamp_error(vm.Stamp, **{**base, **kwargs})
    assert err.field == field
    assert err.value == kwargs[next(iter(kwargs))]
    if message is not None:
        assert str(err) == message


def test_type_pattern_accepts_its_whole_alphabet() -> None:
    """Digits first, dots, hyphens and underscores inside, up to 128 characters."""
    for name in ["0", "a", "order.created", "a-b_c.d9", "a" * 128]:
        assert vm.Stamp(type=name, version=1).type == name


def test_version_bounds() -> None:
    """1 and 2^31-1 are the smallest and largest versions."""
    assert vm.Stamp(type="a", version=1).version == 1
    assert vm.Stamp(type="a", version=2**31 - 1).version == 2**31 - 1


# ---- outbound carriers ------------------------------------------------------------------


def test_to_message_attributes_minimal() -> None:
    """A plain JSON stamp is two attributes: type as String, version as Number."""
    assert vm.Stamp(type="order.created", version=2).to_message_attributes() == {
        "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
        "vmsg-version": {"DataType": "Number", "StringValue": "2"},
    }


def test_to_message_attributes_full() -> None:
    """Every optional field gets its attribute; readable-by is a Number."""
    assert FULL.to_message_attributes() == FULL_ATTRS


def test_readable_by_equal_to_version_is_not_written() -> None:
    """readable_by == version says nothing new, so no carrier writes it."""
    s = vm.Stamp(type="a", version=2, readable_by=2)
    assert "vmsg-readable-by" not in s.to_message_attributes()
    assert "vmsg-readable-by" not in s.to_s3_metadata()
    assert "readable_by" not in s.envelope_header()


def test_json_content_type_is_not_written() -> None:
    """application/json is the default and never costs an attribute."""
    attrs = vm.Stamp(type="a", version=1, producer="p").to_message_attributes()
    assert list(attrs) == ["vmsg-type", "vmsg-version", "vmsg-producer"]


def test_to_message_attributes_is_new_on_every_call() -> None:
    """Changing the returned attributes, or any entry in them, never reaches the next call."""
    s = vm.Stamp(type="order.created", version=2, producer="orders-api:42")
    expected = {
        "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
        "vmsg-version": {"DataType": "Number", "StringValue": "2"},
        "vmsg-producer": {"DataType": "String", "StringValue": "orders-api:42"},
    }
    first = s.to_message_attributes()
    first["tenant"] = {"DataType": "String", "StringValue": "acme"}
    first["vmsg-type"]["StringValue"] = "changed"
    first["vmsg-producer"]["DataType"] = "Binary"
    del first["vmsg-version"]
    second = s.to_message_attributes()
    assert second == expected
    third = s.to_message_attributes()
    assert third is not second
    assert all(third[name] is not second[name] for name in expected)


def test_to_message_attributes_of_stamps_in_turn() -> None:
    """Stamps converted alternately, and equal stamps that are distinct objects, each get
    their own attributes (the last stamp's values are cached)."""
    plain = vm.Stamp(type="a", version=1)
    twin = vm.Stamp(type="a", version=1)
    plain_attrs = {
        "vmsg-type": {"DataType": "String", "StringValue": "a"},
        "vmsg-version": {"DataType": "Number", "StringValue": "1"},
    }
    for _ in range(3):
        assert plain.to_message_attributes() == plain_attrs
        assert list(FULL.to_message_attributes().items()) == list(FULL_ATTRS.items())
        assert twin.to_message_attributes() == plain_attrs
        assert twin.to_message_attributes() == plain_attrs


def test_attribute_values_cache_is_bounded() -> None:
    """Many distinct stamps (producers, say) never grow the attribute cache past its bound."""
    from versioned_msgs._core import stamp as _stamp

    for i in range(_stamp._CACHE_MAX + 10):
        s = vm.Stamp(type="bounded", version=1, producer=f"p:{i}")
        assert s.to_message_attributes()["vmsg-producer"]["StringValue"] == f"p:{i}"
    assert 0 < len(_stamp._ATTR_VALUES) <= _stamp._CACHE_MAX


def test_to_s3_metadata() -> None:
    """S3 metadata is plain strings with hyphenated keys; content type is not in it."""
    assert FULL.to_s3_metadata() == {
        "vmsg-type": "order.created",
        "vmsg-version": "3",
        "vmsg-readable-by": "2",
        "vmsg-producer": "orders-api:42",
    }
    assert vm.Stamp(type="a", version=1).to_s3_metadata() == {
        "vmsg-type": "a",
        "vmsg-version": "1",
    }


# ---- inbound: message attributes --------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_from_message_attributes_in_every_shape(shape: Any) -> None:
    """boto3, Lambda SQS and SNS shapes all read to the same stamp."""
    attrs = attrs_of(
        shape,
        type=("String", "order.created"),
        version=("Number", "3"),
        readable_by=("Number", "2"),
        producer=("String", "orders-api:42"),
        content_type=("String", "application/vnd.acme+json"),
    )
    assert vm.Stamp.from_message_attributes(attrs) == FULL


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_round_trip_through_attributes(shape: Any) -> None:
    """What to_message_attributes writes, from_message_attributes reads back (any shape)."""
    for stamp in [FULL, vm.Stamp(type="x", version=1), vm.Stamp(type="x", version=9, producer="p")]:
        written = stamp.to_message_attributes()
        reshaped = {k: shape(v["DataType"], v["StringValue"]) for k, v in written.items()}
        assert vm.Stamp.from_message_attributes(reshaped) == stamp


def test_user_attributes_and_unknown_vmsg_attributes_are_ignored() -> None:
    """The user's attributes, future vmsg-* fields and the parking reason do not disturb."""
    attrs = {
        **vm.Stamp(type="a", version=1).to_message_attributes(),
        "tenant": boto3_attr("String", "acme"),
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
        "vmsg-schema-hash": boto3_attr("String", "abc"),
        "vmsg-future": {"DataType": "Binary", "BinaryValue": b"\x01"},
        "vmsg-parked-reason": boto3_attr("String", "newer"),
    }
    assert vm.Stamp.from_message_attributes(attrs) == vm.Stamp(type="a", version=1)


@pytest.mark.parametrize(
    "attrs",
    [
        None,
        {},
        {"tenant": boto3_attr("String", "acme")},
        {"vmsg-future": boto3_attr("String", "x")},
        {"vmsg-parked-reason": boto3_attr("String", "unversioned")},
    ],
)
def test_no_stamp_is_none(attrs: dict[str, Any] | None) -> None:
    """Without vmsg-type/vmsg-version (and no other stamp field) the payload is unversioned."""
    assert vm.Stamp.from_message_attributes(attrs) is None


def test_custom_type_labels_belong_to_their_family() -> None:
    """SQS allows labels such as Number.int; they count as Number."""
    attrs = {
        "vmsg-type": boto3_attr("String.name", "a"),
        "vmsg-version": boto3_attr("Number.int", "4"),
    }
    assert vm.Stamp.from_message_attributes(attrs) == vm.Stamp(type="a", version=4)


@pytest.mark.parametrize("text", ["02", "+2", " 2", "2 ", "2.0", "0", "-1", "1e3", "", "٢"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_version_must_be_canonical(shape: Any, text: str) -> None:
    """Versions are canonical decimal: no padding, sign, spaces, fraction or exponent."""
    attrs = attrs_of(shape, type=("String", "a"), version=("Number", text))
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert (err.field, err.value) == ("version", text)
    assert str(err) == (
        "message attributes: expected vmsg-version to be a positive integer below 2^31 in "
        f"canonical decimal (e.g. '2'), got {text!r}"
    )


def test_version_limit() -> None:
    """2^31-1 is read; 2^31 and beyond are refused."""
    ok = attrs_of(boto3_attr, type=("String", "a"), version=("Number", "2147483647"))
    assert vm.Stamp.from_message_attributes(ok) == vm.Stamp(type="a", version=2**31 - 1)
    for text in ["2147483648", "99999999999"]:
        bad = attrs_of(boto3_attr, type=("String", "a"), version=("Number", text))
        assert stamp_error(vm.Stamp.from_message_attributes, bad).value == text


def test_readable_by_is_parsed_as_strictly_as_version() -> None:
    """vmsg-readable-by follows the version grammar and may not exceed the version."""
    bad = attrs_of(
        boto3_attr, type=("String", "a"), version=("Number", "2"), readable_by=("Number", "01")
    )
    err = stamp_error(vm.Stamp.from_message_attributes, bad)
    assert (err.field, err.value) == ("readable_by", "01")
    above = attrs_of(
        boto3_attr, type=("String", "a"), version=("Number", "2"), readable_by=("Number", "3")
    )
    err = stamp_error(vm.Stamp.from_message_attributes, above)
    assert str(err) == (
        "message attributes: expected vmsg-readable-by to be at most the version (2), got 3"
    )
    assert (err.field, err.value) == ("readable_by", 3)


def test_bad_type_in_attributes() -> None:
    """The type must match the spec pattern; the message names the attribute."""
    attrs = attrs_of(sns_attr, type=("String", "Order Created"), version=("Number", "1"))
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert str(err) == (
        "message attributes: expected vmsg-type to be a message type matching "
        "[a-z0-9][a-z0-9._-]{0,127}, got 'Order Created'"
    )
    assert (err.field, err.value) == ("type", "Order Created")


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_binary_data_type_is_rejected(shape: Any) -> None:
    """A stamp field never travels as Binary."""
    attrs = attrs_of(shape, type=("Binary", "YQ=="), version=("Number", "1"))
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert (
        str(err) == "message attributes: expected vmsg-type to have DataType String, got 'Binary'"
    )
    assert (err.field, err.value) == ("type", "Binary")


def test_boto3_binary_value_is_rejected() -> None:
    """The boto3 Binary shape (BinaryValue, no StringValue) is refused on the DataType."""
    attrs = {
        "vmsg-type": boto3_attr("String", "a"),
        "vmsg-version": {"DataType": "Binary", "BinaryValue": b"1"},
    }
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert str(err) == (
        "message attributes: expected vmsg-version to have DataType Number, got 'Binary'"
    )


def test_version_as_string_data_type_is_rejected() -> None:
    """vmsg-version is a Number so filter policies can compare it; String is refused."""
    attrs = attrs_of(boto3_attr, type=("String", "a"), version=("String", "1"))
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert (err.field, err.value) == ("version", "String")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "order.created",
            "message attributes: expected vmsg-type to be an attribute object with a DataType "
            "and a StringValue, got 'order.created'",
        ),
        (
            {"StringValue": "a"},
            "message attributes: expected vmsg-type to have DataType String, got None",
        ),
        (
            {"DataType": "String"},
            "message attributes: expected vmsg-type to carry a string value, got None",
        ),
        (
            {"DataType": "String", "StringValue": ["a"]},
            "message attributes: expected vmsg-type to carry a string value, got ['a']",
        ),
        (
            {"dataType": "String", "stringValue": None, "stringListValues": ["a"]},
            "message attributes: expected vmsg-type to carry a string value, got None",
        ),
    ],
)
def test_malformed_attribute_entries(entry: Any, message: str) -> None:
    """Wrong entry shapes raise StampError, never KeyError/TypeError."""
    attrs = {"vmsg-type": entry, "vmsg-version": boto3_attr("Number", "1")}
    err = stamp_error(vm.Stamp.from_message_attributes, attrs)
    assert str(err) == message
    assert err.field == "type"


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    [
        (
            {"type": ("String", "a")},
            "message attributes: expected vmsg-version beside vmsg-type, found none",
            "version",
        ),
        (
            {"version": ("Number", "1")},
            "message attributes: expected vmsg-type beside vmsg-version, found none",
            "type",
        ),
        (
            {"producer": ("String", "p"), "readable_by": ("Number", "1")},
            "message attributes: expected vmsg-type and vmsg-version beside "
            "vmsg-readable-by, vmsg-producer, found neither",
            "type",
        ),
        (
            {"content_type": ("String", "text/plain")},
            "message attributes: expected vmsg-type and vmsg-version beside "
            "vmsg-content-type, found neither",
            "type",
        ),
    ],
)
def test_half_a_stamp_is_an_error(
    fields: dict[str, tuple[str, str]], message: str, field: str
) -> None:
    """A partial stamp is malformed, not unversioned: nothing is silently dropped."""
    err = stamp_error(vm.Stamp.from_message_attributes, attrs_of(lambda_attr, **fields))
    assert str(err) == message
    assert (err.field, err.value) == (field, None)


def test_parsing_is_cached_but_validation_is_not() -> None:
    """Equal attribute values give the same stamp object; a bad shape still raises."""
    attrs = vm.Stamp(type="cached.type", version=7).to_message_attributes()
    first = vm.Stamp.from_message_attributes(attrs)
    assert vm.Stamp.from_message_attributes(dict(attrs)) is first
    # Same values, now with a Binary DataType: must not be served from the cache.
    bad = {**attrs, "vmsg-version": {"DataType": "Binary", "StringValue": "7"}}
    stamp_error(vm.Stamp.from_message_attributes, bad)


# ---- inbound: S3 metadata ---------------------------------------------------------------


def test_from_s3_metadata() -> None:
    """S3 metadata plus the object's ContentType read back to the stamp."""
    meta = FULL.to_s3_metadata()
    got = vm.Stamp.from_s3_metadata(meta, content_type="application/vnd.acme+json")
    assert got == FULL


def test_s3_keys_are_case_insensitive() -> None:
    """S3 and proxies may change key case; keys are compared lowercased."""
    meta = {"VMSG-Type": "a", "Vmsg-Version": "2"}
    assert vm.Stamp.from_s3_metadata(meta) == vm.Stamp(type="a", version=2)


@pytest.mark.parametrize("content_type", [None, "", "binary/octet-stream"])
def test_s3_default_content_types_mean_json(content_type: str | None) -> None:
    """No ContentType, or S3's default binary/octet-stream, is read as JSON."""
    meta = {"vmsg-type": "a", "vmsg-version": "1"}
    got = vm.Stamp.from_s3_metadata(meta, content_type=content_type)
    assert got is not None
    assert got.content_type == "application/json"


def test_s3_other_content_type_is_kept() -> None:
    """A real ContentType travels into the stamp (decode then refuses non-JSON)."""
    got = vm.Stamp.from_s3_metadata(
        {"vmsg-type": "a", "vmsg-version": "1"}, content_type="text/csv"
    )
    assert got is not None
    assert got.content_type == "text/csv"


@pytest.mark.parametrize("metadata", [None, {}, {"owner": "me"}, {"vmsg-future": "x"}])
def test_s3_without_stamp_is_none(metadata: dict[str, str] | None) -> None:
    """Objects without vmsg-type/vmsg-version are unversioned."""
    assert vm.Stamp.from_s3_metadata(metadata) is None


@pytest.mark.parametrize(
    ("metadata", "message", "field", "value"),
    [
        (
            {"vmsg-type": "a", "vmsg-version": "v2"},
            "S3 metadata: expected vmsg-version to be a positive integer below 2^31 in "
            "canonical decimal (e.g. '2'), got 'v2'",
            "version",
            "v2",
        ),
        (
            {"vmsg-type": "a"},
            "S3 metadata: expected vmsg-version beside vmsg-type, found none",
            "version",
            None,
        ),
        (
            {"vmsg-producer": "p"},
            "S3 metadata: expected vmsg-type and vmsg-version beside vmsg-producer, found neither",
            "type",
            None,
        ),
        (
            {"vmsg_type": "a", "vmsg_version": "1"},
            "S3 metadata: expected the key vmsg-type, got 'vmsg_type' = 'a'",
            "type",
            "a",
        ),
        (
            {"vmsg-type": "a", "vmsg-version": "1", "vmsg_readable_by": "1"},
            "S3 metadata: expected the key vmsg-readable-by, got 'vmsg_readable_by' = '1'",
            "readable_by",
            "1",
        ),
        (
            {"vmsg-type": "a", "vmsg-version": "2", "vmsg-readable-by": "3"},
            "S3 metadata: expected vmsg-readable-by to be at most the version (2), got 3",
            "readable_by",
            3,
        ),
    ],
)
def test_s3_malformed(metadata: dict[str, str], message: str, field: str, value: object) -> None:
    """Malformed or mangled S3 stamps raise StampError naming the key and the value."""
    err = stamp_error(vm.Stamp.from_s3_metadata, metadata)
    assert str(err) == message
    assert (err.field, err.value) == (field, value)


def test_s3_bad_content_type() -> None:
    """A ContentType that is not a media type is named as ContentType."""
    err = stamp_error(
        vm.Stamp.from_s3_metadata, {"vmsg-type": "a", "vmsg-version": "1"}, content_type="??"
    )
    assert str(err) == (
        "S3 metadata: expected ContentType to be a media type such as 'application/json', got '??'"
    )
    assert err.field == "content_type"


# ---- the embedded envelope --------------------------------------------------------------


def test_embed_exact_bytes() -> None:
    """The envelope is compact JSON: vmsg first (type, version, readable_by, producer), data."""
    body = b'{"id":"o-1"}'
    full = vm.Stamp(type="order.created", version=3, readable_by=2, producer="orders-api:42")
    assert embed(body, full) == (
        b'{"vmsg":{"type":"order.created","version":3,"readable_by":2,'
        b'"producer":"orders-api:42"},"data":{"id":"o-1"}}'
    )
    plain = vm.Stamp(type="a", version=1)
    assert embed(body, plain) == b'{"vmsg":{"type":"a","version":1},"data":{"id":"o-1"}}'


def test_encoded_embedded_matches_embed() -> None:
    """Encoded.embedded() is embed(body, stamp)."""
    enc = vm.Encoded(b"[1,2]", vm.Stamp(type="a", version=2, producer="p"))
    assert enc.embedded() == b'{"vmsg":{"type":"a","version":2,"producer":"p"},"data":[1,2]}'
    assert unembed(enc.embedded()) == (enc.stamp, b"[1,2]")


def test_embed_refuses_non_json() -> None:
    """Only a JSON payload can sit inside a JSON envelope."""
    err = stamp_error(embed, b"a,b", vm.Stamp(type="a", version=1, content_type="text/csv"))
    assert (err.field, err.value) == ("content_type", "text/csv")


def test_unembed_round_trip_with_whitespace() -> None:
    """Pretty-printed envelopes (a human or another library wrote them) read the same."""
    body = b' {\n  "vmsg" : {"version": 2, "type": "a", "readable_by": 1},\n  "data": {"x": 1}\n}'
    stamp, data = unembed(body)
    assert stamp == vm.Stamp(type="a", version=2, readable_by=1)
    assert msgspec.json.decode(data) == {"x": 1}


def test_unembed_ignores_unknown_header_keys_and_nulls() -> None:
    """New vmsg keys are ignored; null optional fields mean absent."""
    body = b'{"vmsg":{"type":"a","version":1,"readable_by":null,"schema":"z"},"data":null}'
    assert unembed(body) == (vm.Stamp(type="a", version=1), b"null")


@pytest.mark.parametrize(
    "body", [b'{"id": 1}', b"[1]", b'{"data": 1, "vmsg": {}}', b"", b"  ", b'"vmsg"']
)
def test_not_an_envelope(body: bytes) -> None:
    """Only an object whose first key is vmsg is an envelope; others pass through."""
    assert not looks_embedded(body)
    assert unembed(body) == (None, body)


@pytest.mark.parametrize(
    ("body", "message", "field", "value"),
    [
        (
            b'{"vmsg":{"type":"a","version":1}}',
            "embedded envelope: expected a data member beside vmsg, found none",
            "data",
            None,
        ),
        (
            b'{"vmsg":[1],"data":{}}',
            "embedded envelope: expected vmsg to be an object, got [1]",
            "vmsg",
            [1],
        ),
        (
            b'{"vmsg":{"type":"a","version":"1"},"data":{}}',
            "embedded envelope: expected vmsg.version to be a positive integer below 2^31, got '1'",
            "version",
            "1",
        ),
        (
            b'{"vmsg":{"type":"a","version":1.0},"data":{}}',
            "embedded envelope: expected vmsg.version to be a positive integer below 2^31, got 1.0",
            "version",
            1.0,
        ),
        (
            b'{"vmsg":{"type":"a","version":2147483648},"data":{}}',
            "embedded envelope: expected vmsg.version to be a positive integer below 2^31, "
            "got 2147483648",
            "version",
            2147483648,
        ),
        (
            b'{"vmsg":{"type":"a","version":true},"data":{}}',
            "embedded envelope: expected vmsg.version to be a positive integer below 2^31, "
            "got True",
            "version",
            True,
        ),
        (
            b'{"vmsg":{"version":1},"data":{}}',
            "embedded envelope: expected vmsg.type to be a message type matching "
            "[a-z0-9][a-z0-9._-]{0,127}, got None",
            "type",
            None,
        ),
        (
            b'{"vmsg":{"type":"a","version":1,"readable_by":2},"data":{}}',
            "embedded envelope: expected vmsg.readable_by to be at most the version (1), got 2",
            "readable_by",
            2,
        ),
        (
            b'{"vmsg":{"type":"a","version":1,"producer":7},"data":{}}',
            "embedded envelope: expected vmsg.producer to be 1-256 printable ASCII "
            "characters, got 7",
            "producer",
            7,
        ),
    ],
)
def test_malformed_envelopes(body: bytes, message: str, field: str, value: object) -> None:
    """Every envelope malformation names the key and the value found."""
    err = stamp_error(unembed, body)
    assert str(err) == message
    assert (err.field, err.value) == (field, value)


def test_broken_json_envelope() -> None:
    """A body that starts like an envelope but is not JSON is a StampError, not a crash."""
    err = stamp_error(unembed, b'{"vmsg": {"type": "a", "version": 1}, "data": {')
    assert str(err).startswith(
        "embedded envelope: expected a JSON object with vmsg and data members, got invalid JSON"
    )
    assert err.field == "vmsg"


def test_is_json() -> None:
    """JSON content types include parameters and +json suffixes, case-insensitively."""
    for ct in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/cloudevents+json",
    ]:
        assert is_json(ct)
    for ct in ["text/plain", "application/jsonl", "application/octet-stream"]:
        assert not is_json(ct)


def test_from_message_attributes_rereads_mutated_entries() -> None:
    """Entries equal to the previous read reuse its stamp; a changed or mutated entry is reread."""
    attrs = {
        "vmsg-type": {"dataType": "String", "stringValue": "order.created"},
        "vmsg-version": {"dataType": "Number", "stringValue": "2"},
    }
    first = vm.Stamp.from_message_attributes(attrs)
    assert first is not None
    assert first.version == 2
    again = {k: dict(v) for k, v in attrs.items()}
    assert vm.Stamp.from_message_attributes(again) is first
    attrs["vmsg-version"]["stringValue"] = "3"  # the caller mutates its own entry in place
    third = vm.Stamp.from_message_attributes(attrs)
    assert third is not None
    assert third.version == 3
    attrs["vmsg-version"]["dataType"] = "Binary"
    with pytest.raises(vm.StampError, match="vmsg-version to have DataType Number"):
        vm.Stamp.from_message_attributes(attrs)
    with_producer = {**again, "vmsg-producer": {"dataType": "String", "stringValue": "api:1"}}
    stamp = vm.Stamp.from_message_attributes(with_producer)
    assert stamp is not None
    assert stamp.producer == "api:1"


# ---- properties -------------------------------------------------------------------------

type_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,127}", fullmatch=True)
versions = st.integers(min_value=1, max_value=2**31 - 1)
producers = st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)
json_types = st.sampled_from(["application/json", "application/vnd.acme+json"])


@st.composite
def stamps(draw: st.DrawFn, content_types: st.SearchStrategy[str] = json_types) -> vm.Stamp:
    version = draw(versions)
    readable_by = draw(st.none() | st.integers(min_value=1, max_value=version - 1 or 1))
    return vm.Stamp(
        type=draw(type_names),
        version=version,
        readable_by=None if readable_by == version else readable_by,
        producer=draw(producers),
        content_type=draw(content_types),
    )


@settings(max_examples=150, deadline=None)
@given(stamp=stamps(json_types | st.sampled_from(["text/csv", "application/x-protobuf"])))
def test_every_stamp_round_trips_through_attributes_and_metadata(stamp: vm.Stamp) -> None:
    """Any valid stamp survives attributes (all three shapes) and S3 metadata unchanged."""
    written = stamp.to_message_attributes()
    for shape in SHAPES:
        attrs = {k: shape(v["DataType"], v["StringValue"]) for k, v in written.items()}
        assert vm.Stamp.from_message_attributes(attrs) == stamp
    meta = stamp.to_s3_metadata()
    assert vm.Stamp.from_s3_metadata(meta, content_type=stamp.content_type) == stamp


@settings(max_examples=150, deadline=None)
@given(stamp=stamps(), data=st.sampled_from([b"{}", b"[1]", b'"x"', b"null", b'{"a":{"b":[]}}']))
def test_every_json_stamp_round_trips_through_the_envelope(stamp: vm.Stamp, data: bytes) -> None:
    """Any valid stamp survives the envelope, except its content type, which becomes JSON."""
    back, inner = unembed(embed(data, stamp))
    assert inner == data
    assert back == vm.Stamp(
        type=stamp.type,
        version=stamp.version,
        readable_by=stamp.readable_by,
        producer=stamp.producer,
    )


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from("0123456789+-. e\t٢x"), max_size=12))
def test_version_text_is_accepted_exactly_when_canonical(text: str) -> None:
    """A version string parses iff it is the canonical decimal of a number in 1..2^31-1."""
    attrs = {"vmsg-type": boto3_attr("String", "a"), "vmsg-version": boto3_attr("Number", text)}
    canonical = text.isascii() and text.isdigit() and str(int(text)) == text
    valid = canonical and 1 <= int(text) <= 2**31 - 1
    if valid:
        got = vm.Stamp.from_message_attributes(attrs)
        assert got is not None
        assert got.version == int(text)
    else:
        with pytest.raises(vm.StampError):
            vm.Stamp.from_message_attributes(attrs)
