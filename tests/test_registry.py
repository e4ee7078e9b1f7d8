"""The registry: registration, check(), encode with downgrades, decode with upgrades/tolerance."""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import versioned_msgs as vm

T = "order.created"

# ---- three versions of one message, as msgspec Structs and as pydantic models -----------
# v1 -> v2 renames order_id to id; v3 adds an optional note and is readable by v2 readers.


class MsV1(msgspec.Struct):
    order_id: str
    cents: int


class MsV2(msgspec.Struct):
    id: str
    cents: int


class MsV3(msgspec.Struct):
    id: str
    cents: int
    note: str = ""


class PdV1(pydantic.BaseModel):
    order_id: str
    cents: int


class PdV2(pydantic.BaseModel):
    id: str
    cents: int


class PdV3(pydantic.BaseModel):
    id: str
    cents: int
    note: str = ""


class Family(NamedTuple):
    registry: vm.Registry
    v1: type[Any]
    v2: type[Any]
    v3: type[Any]


def add_converters(reg: vm.Registry) -> None:
    @reg.upgrader(T, from_version=1)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        d = dict(d)
        d["id"] = d.pop("order_id")
        return d

    @reg.upgrader(T, from_version=2)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "note": ""}

    @reg.downgrader(T, from_version=3)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k != "note"}

    @reg.downgrader(T, from_version=2)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        d = dict(d)
        d["order_id"] = d.pop("id")
        return d


def build(kind: str, *, upto: int = 3) -> Family:
    """A registry with v1..``upto`` of order.created and all converters between them."""
    models = (MsV1, MsV2, MsV3) if kind == "msgspec" else (PdV1, PdV2, PdV3)
    reg = vm.Registry()
    reg.message(T, version=1)(models[0])
    reg.message(T, version=2)(models[1])
    if upto >= 3:
        reg.message(T, version=3, readable_by=2)(models[2])
    add_converters(reg)
    return Family(reg, *models)


KINDS = ["msgspec", "pydantic"]


@pytest.fixture(params=KINDS)
def fam(request: pytest.FixtureRequest) -> Family:
    family = build(request.param)
    family.registry.check()
    return family


def stamp(version: int, **kw: Any) -> vm.Stamp:
    return vm.Stamp(type=T, version=version, **kw)


# ---- registration -----------------------------------------------------------------------


def test_message_decorator_returns_the_class_unchanged() -> None:
    """The decorator registers and hands back the very same class."""
    reg = vm.Registry()
    assert reg.message(T, version=1)(MsV1) is MsV1
    assert reg.message(T, version=2)(PdV2) is PdV2
    assert reg.lookup(MsV1) == (T, 1)
    assert reg.lookup(PdV2) == (T, 2)


def test_introspection(fam: Family) -> None:
    """current, versions, model, models, readable_by and types describe the registrations."""
    reg = fam.registry
    assert reg.current(T) == 3
    assert reg.versions(T) == [1, 2, 3]
    assert reg.types() == [T]
    assert reg.model(T) is fam.v3
    assert reg.model(T, 1) is fam.v1
    assert reg.readable_by(T, 3) == 2
    assert reg.readable_by(T, 2) is None
    assert [(m.version, m.model, m.readable_by) for m in reg.models()] == [
        (1, fam.v1, None),
        (2, fam.v2, None),
        (3, fam.v3, 2),
    ]
    assert len(reg.chain(T, 1, 3)) == 2
    assert len(reg.chain(T, 3, 1)) == 2


def test_model_of_unknown_version() -> None:
    """Asking for a version without a model names the versions there are."""
    reg = build("msgspec").registry
    with pytest.raises(vm.UnsupportedVersionError) as info:
        reg.model(T, 7)
    assert str(info.value) == "order.created v7 has no model in this registry (models: v1, v2, v3)"


def test_current_of_unknown_type() -> None:
    """An unknown type raises UnknownTypeError listing the known ones."""
    reg = build("msgspec").registry
    with pytest.raises(vm.UnknownTypeError) as info:
        reg.current("invoice.paid")
    assert str(info.value) == (
        "unknown message type 'invoice.paid': this registry knows order.created"
    )
    assert info.value.type == "invoice.paid"
    assert info.value.known == [T]


@pytest.mark.parametrize(
    ("register", "message"),
    [
        (
            lambda r: r.message("Order", version=1),
            "expected a message type matching [a-z0-9][a-z0-9._-]{0,127}, got 'Order'",
        ),
        (
            lambda r: r.message(T, version=0),
            "order.created: expected version to be a positive integer below 2^31, got 0",
        ),
        (
            lambda r: r.message(T, version=True),
            "order.created: expected version to be a positive integer below 2^31, got True",
        ),
        (
            lambda r: r.message(T, version=2, readable_by="1"),
            "order.created v2: expected readable_by to be an integer, got '1'",
        ),
        (
            lambda r: r.message(T, version=1)(dict),
            "order.created v1: expected a msgspec.Struct or pydantic.BaseModel class, "
            "got <class 'dict'>",
        ),
        (
            lambda r: r.upgrader(T, from_version=0),
            "order.created: expected from_version to be a positive integer below 2^31, got 0",
        ),
        (
            lambda r: r.downgrader(T, from_version=1),
            "order.created: a downgrader from v1 would go below v1",
        ),
    ],
)
def test_malformed_registrations_raise_at_once(register: Any, message: str) -> None:
    """Malformed declarations cannot wait for check(): they raise RegistryError immediately."""
    with pytest.raises(vm.RegistryError) as info:
        register(vm.Registry())
    assert str(info.value) == message
    assert info.value.problems == [message]


def test_check_passes_for_a_consistent_registry(fam: Family) -> None:
    """check() returns None and problems() is empty when the chain is complete."""
    assert fam.registry.check() is None
    assert fam.registry.problems() == []


def test_check_reports_every_problem_at_once() -> None:
    """Gaps, duplicates, a class twice, bad readable_by, orphan converters: all in one error."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=3, readable_by=4)(MsV3)  # readable_by above its version
    reg.message(T, version=3)(PdV3)  # v3 twice
    reg.message("order.shipped", version=1)(MsV1)  # one class as two messages

    @reg.upgrader(T, from_version=1)
    def rename_order_id(d: dict[str, Any]) -> dict[str, Any]:
        return d

    @reg.upgrader(T, from_version=1)  # a second upgrader from v1
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    @reg.upgrader(T, from_version=3)  # goes past the current v3
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    @reg.upgrader("invoice.paid", from_version=1)  # converters but no model at all
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    @reg.downgrader("invoice.paid", from_version=2)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    problems = reg.problems()
    # Registration-time findings first (in registration order), then per-type findings.
    assert problems[:3] == [
        "order.created v3: readable_by must be between 1 and 3, got 4",
        "order.created v3 is registered twice: MsV3 and PdV3",
        "MsV1 is registered twice: as order.created v1 and as order.shipped v1",
    ]
    assert problems[3].startswith(
        "order.created: the upgrader from v1 to v2 is registered twice (at test_registry.py:"
    )
    assert problems[4:] == [
        "invoice.paid: upgraders from v1 and downgraders from v2 are registered but no model",
        "order.created: upgrader from v3 to v4 goes past the current version v3",
        "order.created: no upgrader from v2 to v3 (models: v1, v3; v1 payloads cannot "
        "reach the current v3)",
    ]
    with pytest.raises(vm.RegistryError) as info:
        reg.check()
    assert info.value.problems == problems
    assert str(info.value) == f"{len(problems)} registry problems:\n" + "\n".join(
        f"  - {p}" for p in problems
    )


def test_check_reports_readable_by_below_one() -> None:
    """readable_by below 1 is out of range too, and reported once."""
    reg = vm.Registry()
    reg.message(T, version=2, readable_by=0)(MsV2)
    reg.message(T, version=1)(MsV1)

    @reg.upgrader(T, from_version=1)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    assert reg.problems() == ["order.created v2: readable_by must be between 1 and 2, got 0"]


def test_the_same_declaration_twice_is_harmless() -> None:
    """Registering one class again with the same declaration changes nothing."""
    fam = build("msgspec")
    fam.registry.message(T, version=3, readable_by=2)(MsV3)
    assert fam.registry.problems() == []
    fam.registry.message(T, version=3)(MsV3)
    assert fam.registry.problems() == [
        "order.created v3 (MsV3) is registered twice with different readable_by: 2 and None"
    ]


def test_duplicate_downgraders_are_reported() -> None:
    """Two downgraders from one version are a problem, described by step, not by `_`."""
    reg = build("msgspec").registry

    @reg.downgrader(T, from_version=3)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    [problem] = reg.problems()
    assert problem.startswith(
        "order.created: the downgrader from v3 to v2 is registered twice (at test_registry.py:"
    )


def test_missing_oldest_model_still_needs_a_chain() -> None:
    """Versions known only through upgraders count as versions to upgrade from."""
    reg = vm.Registry()
    reg.message(T, version=3)(MsV3)

    @reg.upgrader(T, from_version=1)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d

    assert reg.problems() == [
        "order.created: no upgrader from v2 to v3 (models: v3; v1 payloads cannot reach the "
        "current v3)"
    ]


# ---- encode -----------------------------------------------------------------------------


def test_encode_current(fam: Family) -> None:
    """The current model encodes to compact JSON, stamped with its version and readable_by."""
    enc = fam.registry.encode(fam.v3(id="o-1", cents=250, note="gift"))
    assert enc.body == b'{"id":"o-1","cents":250,"note":"gift"}'
    assert enc.stamp == stamp(3, readable_by=2)


def test_encode_with_producer(fam: Family) -> None:
    """producer= travels in the stamp."""
    enc = fam.registry.encode(fam.v2(id="o-1", cents=1), producer="orders-api:7")
    assert enc.stamp == stamp(2, producer="orders-api:7")


def test_repeated_encodes_keep_producers_and_versions_apart(fam: Family) -> None:
    """encode()'s per-class cache never mixes producers, versions or registries up."""
    reg = fam.registry
    for _ in range(2):
        assert reg.encode(fam.v2(id="o-1", cents=1)).stamp == stamp(2)
        assert reg.encode(fam.v2(id="o-1", cents=1), producer="a:1").stamp.producer == "a:1"
        assert reg.encode(fam.v2(id="o-1", cents=1), producer="b:2").stamp.producer == "b:2"
        assert reg.encode(fam.v2(id="o-1", cents=1), 1).stamp == stamp(1)
        assert reg.encode(fam.v3(id="o-1", cents=1, note="")).stamp == stamp(3, readable_by=2)
    other = vm.Registry()
    other.message(T, version=7)(fam.v2)
    assert other.encode(fam.v2(id="o-1", cents=1)).stamp == stamp(7)


def test_cached_encode_encodes_every_message(fam: Family) -> None:
    """encode()'s fast path shares the stamp, never a body, and keeps refusing strangers."""
    reg = fam.registry
    first = reg.encode(fam.v3(id="o-1", cents=1, note="a"), producer="p:1")
    second = reg.encode(fam.v3(id="o-2", cents=2, note="b"), producer="p:1")
    assert first.body == b'{"id":"o-1","cents":1,"note":"a"}'
    assert second.body == b'{"id":"o-2","cents":2,"note":"b"}'
    assert second.stamp is first.stamp
    assert second.stamp == stamp(3, readable_by=2, producer="p:1")

    class Stranger(msgspec.Struct):
        x: int

    for _ in range(2):
        with pytest.raises(vm.UnknownTypeError):
            reg.encode(Stranger(x=1))


def test_encode_with_a_bad_producer() -> None:
    """A producer the stamp cannot carry is refused before anything is written."""
    reg = build("msgspec").registry
    with pytest.raises(vm.StampError) as info:
        reg.encode(MsV2(id="a", cents=1), producer="line\nbreak")
    assert (info.value.field, info.value.value) == ("producer", "line\nbreak")


def test_stamp_omits_out_of_range_readable_by() -> None:
    """A readable_by that check() reports is never written on the wire."""
    reg = vm.Registry()
    reg.message(T, version=2, readable_by=5)(MsV2)
    assert reg.stamp(T, 2) == stamp(2)
    assert reg.encode(MsV2(id="a", cents=1)).stamp == stamp(2)


def test_older_model_instance_encodes_at_its_own_version(fam: Family) -> None:
    """An instance of the v1 model is written as v1, untouched."""
    enc = fam.registry.encode(fam.v1(order_id="o-1", cents=5))
    assert enc.body == b'{"order_id":"o-1","cents":5}'
    assert enc.stamp == stamp(1)


def test_encode_as_version_downgrades(fam: Family) -> None:
    """as_version walks the downgraders and validates against the older model."""
    enc = fam.registry.encode(fam.v3(id="o-1", cents=5, note="x"), as_version=1)
    assert enc.body == b'{"order_id":"o-1","cents":5}'
    assert enc.stamp == stamp(1)


def test_encode_older_instance_as_newer_version_upgrades(fam: Family) -> None:
    """An old instance can be written at a newer version through the upgraders."""
    enc = fam.registry.encode(fam.v1(order_id="o-1", cents=5), as_version=3)
    assert msgspec.json.decode(enc.body) == {"id": "o-1", "cents": 5, "note": ""}
    assert enc.stamp == stamp(3, readable_by=2)


@pytest.mark.parametrize(
    ("as_version", "message"),
    [
        (0, "order.created: expected as_version to be a positive integer below 2^31, got 0"),
        (True, "order.created: expected as_version to be a positive integer below 2^31, got True"),
        (
            5,
            "order.created v3 cannot be converted to v5: no upgrader from v3 to v4 is registered",
        ),
    ],
)
def test_encode_as_unsupported_version(as_version: Any, message: str) -> None:
    """A version the registry cannot reach raises UnsupportedVersionError with the step."""
    reg = build("msgspec").registry
    with pytest.raises(vm.UnsupportedVersionError) as info:
        reg.encode(MsV3(id="a", cents=1), as_version=as_version)
    assert str(info.value) == message
    assert (info.value.type, info.value.current) == (T, 3)


def test_encode_as_version_that_does_not_fit_the_older_model() -> None:
    """A downgrader producing a bad payload is caught by the older model's validation."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=2)(MsV2)

    @reg.downgrader(T, from_version=2)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return d  # forgets to rename id to order_id

    with pytest.raises(vm.PayloadError) as info:
        reg.encode(MsV2(id="a", cents=1), as_version=1)
    assert str(info.value) == (
        "order.created: the v1 payload made from v2 does not fit the v1 model MsV1: "
        "Object missing required field `order_id`"
    )
    assert (info.value.type, info.value.version) == (T, 1)


def test_encode_unregistered_instance() -> None:
    """Encoding something that is not a registered model says so and lists known types."""
    reg = build("msgspec").registry

    class Stranger(msgspec.Struct):
        x: int

    with pytest.raises(vm.UnknownTypeError) as info:
        reg.encode(Stranger(x=1))
    assert str(info.value) == (
        "cannot encode test_encode_unregistered_instance.<locals>.Stranger: it is not a "
        "registered model: this registry knows order.created"
    )


# ---- decode -----------------------------------------------------------------------------


def test_decode_same_version(fam: Family) -> None:
    """A payload at the model's version decodes directly; Meta says what was written."""
    msg, meta = fam.registry.decode(b'{"id":"o-1","cents":5,"note":"n"}', stamp(3, producer="p"))
    assert msg == fam.v3(id="o-1", cents=5, note="n")
    assert meta == vm.Meta(type=T, version=3, model_version=3, producer="p")
    assert meta.upgraded_from is None
    assert not meta.tolerated


def test_decode_accepts_str_bodies(fam: Family) -> None:
    """Lambda hands SQS/SNS bodies over as str; decode takes them as they come."""
    msg, _ = fam.registry.decode('{"id":"o-1","cents":5}', stamp(2))
    assert msg == fam.v3(id="o-1", cents=5)


def test_decode_upgrades_through_the_chain(fam: Family) -> None:
    """A v1 payload is upgraded v1 -> v2 -> v3 and validated once by the current model."""
    msg, meta = fam.registry.decode(b'{"order_id":"o-1","cents":5}', stamp(1))
    assert msg == fam.v3(id="o-1", cents=5, note="")
    assert (meta.version, meta.model_version, meta.upgraded_from) == (1, 3, 1)


def test_versions_without_a_model_are_upgraded_through() -> None:
    """A version known only by its upgrader (no model kept) still reaches the current model."""
    reg = vm.Registry()
    reg.message(T, version=3)(MsV3)
    add_converters(reg)
    reg.check()
    msg, meta = reg.decode(b'{"order_id":"o-1","cents":5}', stamp(1))
    assert msg == MsV3(id="o-1", cents=5)
    assert meta.upgraded_from == 1


def test_decode_into_an_older_model(fam: Family) -> None:
    """into= an older model: older payloads upgrade to it, newer ones downgrade to it."""
    reg = fam.registry
    v3_body = b'{"id":"o-1","cents":5,"note":"n"}'
    old, meta = reg.decode(v3_body, stamp(3), into=fam.v1)
    assert old == fam.v1(order_id="o-1", cents=5)
    assert (meta.version, meta.model_version, meta.upgraded_from) == (3, 1, None)
    assert not meta.tolerated
    up, meta = reg.decode(b'{"order_id":"o-1","cents":5}', stamp(1), into=fam.v2)
    assert up == fam.v2(id="o-1", cents=5)
    assert meta.upgraded_from == 1


def test_decode_into_a_model_readable_as_is(fam: Family) -> None:
    """A v3 payload readable by v2 is read by the v2 model as it is (tolerated)."""
    msg, meta = fam.registry.decode(
        b'{"id":"o-1","cents":5,"note":"n"}', stamp(3, readable_by=2), into=fam.v2
    )
    assert msg == fam.v2(id="o-1", cents=5)
    assert meta.tolerated


def test_decode_newer_than_current_into_an_older_model(fam: Family) -> None:
    """A v4 payload readable by v3 reaches an older model: read as v3, then downgraded."""
    body = b'{"id":"o-1","cents":5,"note":"n","colour":"red"}'
    old, meta = fam.registry.decode(body, stamp(4, readable_by=3), into=fam.v1)
    assert old == fam.v1(order_id="o-1", cents=5)
    assert (meta.version, meta.model_version, meta.tolerated) == (4, 1, False)
    with pytest.raises(vm.UnsupportedVersionError, match="is readable only by v4 and newer"):
        fam.registry.decode(body, stamp(5, readable_by=4), into=fam.v1)


def test_decode_into_a_model_of_another_type(fam: Family) -> None:
    """into= must be a model of the stamped type."""
    reg = fam.registry

    class Other(msgspec.Struct):
        x: int

    reg.message("invoice.paid", version=1)(Other)
    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b"{}", stamp(3), into=Other)
    assert str(info.value) == (
        "order.created v3 cannot be decoded into "
        "test_decode_into_a_model_of_another_type.<locals>.Other: it is registered as "
        "invoice.paid"
    )
    with pytest.raises(vm.PayloadError, match=r"it is not registered$"):
        reg.decode(b"{}", stamp(3), into=dict)


@pytest.mark.parametrize("kind", KINDS)
def test_newer_payload_readable_by_this_reader_is_tolerated(kind: str) -> None:
    """A reader at v2 reads a v3 payload declared readable by v2, ignoring the new field."""
    writer = build(kind).registry
    reader = build(kind, upto=2).registry
    enc = writer.encode(writer.model(T)(id="o-1", cents=5, note="new"))
    msg, meta = reader.decode(enc.body, enc.stamp)
    assert msg == reader.model(T)(id="o-1", cents=5)
    assert (meta.version, meta.model_version, meta.readable_by) == (3, 2, 2)
    assert meta.tolerated


class StrictMsV2(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    cents: int


class StrictPdV2(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    id: str
    cents: int


@pytest.mark.parametrize("model", [StrictMsV2, StrictPdV2])
def test_tolerance_overrides_forbidden_unknown_fields(model: type[Any]) -> None:
    """Models that forbid unknown fields still read readable newer payloads; not same-version."""
    reg = vm.Registry()
    reg.message(T, version=2)(model)
    msg, meta = reg.decode(b'{"id":"o-1","note":"new","cents":5}', stamp(3, readable_by=2))
    assert msg == model(id="o-1", cents=5)
    assert meta.tolerated
    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b'{"id":"o-1","note":"new","cents":5}', stamp(2))
    assert info.value.stamp == stamp(2)


class TaggedV1(msgspec.Struct, tag="order", forbid_unknown_fields=True):
    id: str


def test_tolerance_keeps_the_tag_of_tagged_structs() -> None:
    """A tagged Struct that forbids unknown fields keeps its tag when new fields are dropped."""
    reg = vm.Registry()
    reg.message(T, version=1)(TaggedV1)
    msg, _ = reg.decode(b'{"type":"order","id":"a","extra":1}', stamp(2, readable_by=1))
    assert msg == TaggedV1(id="a")


def test_newer_payload_without_readable_by_is_unsupported() -> None:
    """A newer payload that declares nothing cannot be read; the error says why."""
    reader = build("msgspec", upto=2).registry
    with pytest.raises(vm.UnsupportedVersionError) as info:
        reader.decode(b"{}", stamp(3))
    assert str(info.value) == (
        "order.created v3 is newer than this reader (knows up to v2) and declares no readable_by"
    )
    err = info.value
    assert (err.type, err.version, err.current) == (T, 3, 2)


def test_newer_payload_readable_only_by_newer_readers() -> None:
    """readable_by above the reader's current version is as unreadable as none."""
    reader = build("pydantic", upto=2).registry
    with pytest.raises(vm.UnsupportedVersionError) as info:
        reader.decode(b"{}", stamp(5, readable_by=3))
    assert str(info.value) == (
        "order.created v5 is newer than this reader (knows up to v2) and is readable only "
        "by v3 and newer"
    )


def test_decode_without_stamp_reads_the_envelope(fam: Family) -> None:
    """decode(body, None) takes the stamp from an embedded envelope."""
    enc = fam.registry.encode(fam.v1(order_id="o-1", cents=5), producer="p")
    msg, meta = fam.registry.decode(enc.embedded(), None)
    assert msg == fam.v3(id="o-1", cents=5)
    assert (meta.version, meta.producer, meta.upgraded_from) == (1, "p", 1)


def test_attributes_win_over_the_envelope(fam: Family) -> None:
    """With both, the given stamp is used and the envelope only unwrapped."""
    body = vm.Encoded(b'{"id":"o-1","cents":5}', stamp(2, producer="envelope")).embedded()
    msg, meta = fam.registry.decode(body, stamp(2, producer="attributes"))
    assert msg == fam.v3(id="o-1", cents=5)
    assert meta.producer == "attributes"


def test_no_stamp_at_all_is_missing_stamp_error(fam: Family) -> None:
    """An unversioned body raises MissingStampError (a StampError)."""
    with pytest.raises(vm.MissingStampError) as info:
        fam.registry.decode(b'{"id":"o-1","cents":5}', None)
    assert str(info.value) == (
        "expected a stamp (vmsg-* attributes, S3 metadata or an embedded envelope), found "
        "none: the payload is unversioned"
    )
    assert isinstance(info.value, vm.StampError)


def test_decode_unknown_type(fam: Family) -> None:
    """A stamped type the registry does not know raises UnknownTypeError."""
    with pytest.raises(vm.UnknownTypeError, match=r"unknown message type 'invoice\.paid'"):
        fam.registry.decode(b"{}", vm.Stamp(type="invoice.paid", version=1))


def test_payload_not_fitting_the_model(fam: Family) -> None:
    """A body the model rejects raises PayloadError naming the field and the kind of problem
    (msgspec's words, pydantic's error type), never the value found, and the stamp."""
    s = stamp(3, producer="p")
    with pytest.raises(vm.PayloadError) as info:
        fam.registry.decode(b'{"id":"o-1","cents":"five"}', s)
    err = info.value
    assert (err.type, err.version, err.stamp) == (T, 3, s)
    prefix = f"order.created v3: the payload does not fit the v3 model {fam.v3.__name__}: "
    assert str(err).startswith(prefix)
    if fam.v3 is MsV3:
        assert str(err) == prefix + "Expected `int`, got `str` - at `$.cents`"
    else:
        assert str(err) == prefix + "cents: int_parsing"
    assert "five" not in str(err)


def test_upgraded_payload_not_fitting_the_model_says_so() -> None:
    """When the misfit appears after upgrading, the message says to which version."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=2)(MsV2)
    reg.upgrader(T, from_version=1)(lambda d: {"id": d["order_id"]})  # forgets cents
    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b'{"order_id":"a","cents":1}', stamp(1))
    assert str(info.value) == (
        "order.created v1: the payload, upgraded to v2, does not fit the v2 model MsV2: "
        "Object missing required field `cents`"
    )
    assert (info.value.type, info.value.version) == (T, 2)


def test_tolerated_payload_not_fitting_the_model_says_so() -> None:
    """A newer payload read as an older version names both versions."""
    reader = build("msgspec", upto=2).registry
    with pytest.raises(vm.PayloadError) as info:
        reader.decode(b'{"id":"a","cents":"1"}', stamp(3, readable_by=2))
    assert str(info.value) == (
        "order.created v3: the payload, read as v2, does not fit the v2 model MsV2: "
        "Expected `int`, got `str` - at `$.cents`"
    )


def test_broken_json_is_named_as_such() -> None:
    """msgspec models report malformed JSON as such, on either path."""
    reg = build("msgspec").registry
    for version in (1, 3):
        with pytest.raises(vm.PayloadError) as info:
            reg.decode(b'{"id":', stamp(version))
        assert str(info.value) == (
            f"order.created v{version}: the payload is not valid JSON (Input data was truncated)"
        )


@pytest.mark.parametrize("body", [b"{", b"", b"\xff"])
def test_invalid_json_is_payload_error(fam: Family, body: bytes) -> None:
    """Broken JSON is a PayloadError on the direct and the upgrade path alike."""
    for version in (3, 1):
        with pytest.raises(vm.PayloadError) as info:
            fam.registry.decode(body, stamp(version))
        assert info.value.stamp == stamp(version)


def test_non_json_content_type_is_refused(fam: Family) -> None:
    """Only JSON payloads are decoded; the content type is named."""
    with pytest.raises(vm.PayloadError) as info:
        fam.registry.decode(b"a,b", stamp(3, content_type="text/csv"))
    assert (
        str(info.value) == "order.created v3: expected a JSON payload, got content type 'text/csv'"
    )


def test_json_variants_are_decoded(fam: Family) -> None:
    """application/json with parameters and +json types are JSON."""
    msg, meta = fam.registry.decode(
        b'{"id":"a","cents":1}', stamp(2, content_type="application/json; charset=utf-8")
    )
    assert msg == fam.v3(id="a", cents=1)
    assert meta.content_type == "application/json; charset=utf-8"


def test_failing_upgrader_is_payload_error() -> None:
    """An upgrader that raises is described by its step and its exception's type (not its
    text, which may quote the payload) and carries the stamp and the exception as cause."""
    reg = build("msgspec").registry
    s = stamp(1, producer="p")
    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b'{"cents":5}', s)
    err = info.value
    assert str(err) == "order.created: the upgrader from v1 to v2 failed: KeyError"
    assert (err.type, err.version, err.stamp) == (T, 1, s)
    assert isinstance(err.__cause__, KeyError)


def test_failing_named_upgrader_is_named() -> None:
    """A converter with a real name is named beside its step."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=2)(MsV2)

    @reg.upgrader(T, from_version=1)
    def rename_order_id(d: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("boom")

    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b"{}", stamp(1))
    assert str(info.value) == (
        "order.created: the upgrader from v1 to v2 "
        "(test_failing_named_upgrader_is_named.<locals>.rename_order_id) failed: "
        "ValueError"
    )
    assert str(info.value.__cause__) == "boom"


def test_upgrader_returning_a_non_object() -> None:
    """A step that returns something other than a dict is caught before the next step."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=3)(MsV3)
    reg.upgrader(T, from_version=1)(lambda d: [d])  # type: ignore[arg-type,return-value]
    reg.upgrader(T, from_version=2)(lambda d: d)
    with pytest.raises(vm.PayloadError) as info:
        reg.decode(b'{"order_id":"a","cents":1}', stamp(1))
    assert str(info.value) == (
        "order.created: expected a JSON object before converting v2 to v3, got list"
    )


def test_payload_that_is_not_an_object_cannot_be_upgraded(fam: Family) -> None:
    """Upgraders work on JSON objects; a v1 array is a PayloadError, not a crash."""
    with pytest.raises(vm.PayloadError) as info:
        fam.registry.decode(b"[1, 2]", stamp(1))
    assert str(info.value) == (
        "order.created: expected a JSON object before converting v1 to v2, got list"
    )


def test_missing_upgrade_step_on_decode() -> None:
    """Decoding across a gap names the missing step (check() would have found it)."""
    reg = vm.Registry()
    reg.message(T, version=1)(MsV1)
    reg.message(T, version=3)(MsV3)
    with pytest.raises(vm.UnsupportedVersionError) as info:
        reg.decode(b"{}", stamp(1))
    assert str(info.value) == (
        "order.created v1 cannot be converted to v3: no upgrader from v1 to v2 is registered"
    )


# ---- round trips across three versions (hypothesis) -------------------------------------

FAMILIES = {kind: build(kind) for kind in KINDS}
texts = st.text(max_size=20)
cents = st.integers(min_value=-(2**53), max_value=2**53)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    id_=texts,
    amount=cents,
    note=texts,
    as_version=st.sampled_from([1, 2, 3]),
)
def test_round_trip_current_through_every_version(
    kind: str, id_: str, amount: int, note: str, as_version: int
) -> None:
    """Current -> encode at any version -> decode to current keeps what that version holds."""
    fam = FAMILIES[kind]
    msg = fam.v3(id=id_, cents=amount, note=note)
    enc = fam.registry.encode(msg, as_version=as_version)
    assert enc.stamp.version == as_version
    back, meta = fam.registry.decode(enc.body, enc.stamp)
    # v1 and v2 have no note: it comes back as the default, everything else unchanged.
    assert back == (msg if as_version == 3 else fam.v3(id=id_, cents=amount))
    assert meta.upgraded_from == (None if as_version == 3 else as_version)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    id_=texts,
    amount=cents,
    source=st.sampled_from([1, 2]),
    as_version=st.sampled_from([1, 2, 3]),
    embedded=st.booleans(),
)
def test_round_trip_older_models_both_directions(
    kind: str, id_: str, amount: int, source: int, as_version: int, embedded: bool
) -> None:
    """An old instance written at any version decodes back into its own model unchanged."""
    fam = FAMILIES[kind]
    model = fam.v1 if source == 1 else fam.v2
    msg = model(order_id=id_, cents=amount) if source == 1 else model(id=id_, cents=amount)
    enc = fam.registry.encode(msg, as_version=as_version)
    if embedded:
        back, meta = fam.registry.decode(enc.embedded(), None, into=model)
    else:
        back, meta = fam.registry.decode(enc.body, enc.stamp, into=model)
    assert back == msg
    assert (meta.version, meta.model_version) == (as_version, source)
