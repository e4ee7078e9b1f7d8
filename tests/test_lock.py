"""Schema locks and readable_by verification (versioned_msgs._cli.schema_lock)."""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
import pydantic
import pytest

import versioned_msgs as vm
from versioned_msgs._cli import schema_lock as _lock


def _orders(
    v1: type[Any], v2: type[Any] | None = None, *, readable_by: int | None = None
) -> vm.Registry:
    reg = vm.Registry()
    reg.message("order.created", version=1)(v1)
    if v2 is not None:
        reg.message("order.created", version=2, readable_by=readable_by)(v2)

        @reg.upgrader("order.created", from_version=1)
        def _up(d: dict[str, Any]) -> dict[str, Any]:
            return d

    return reg


class V1(msgspec.Struct):
    order_id: str
    total: int


def test_lock_is_stable_sorted_json() -> None:
    """Two locks of the same registry are byte-identical, with sorted keys and the schema."""
    reg = _orders(V1)
    text = _lock.dumps_lock(_lock.make_lock(reg))
    assert text == _lock.dumps_lock(_lock.make_lock(reg))
    doc = json.loads(text)
    entry = doc["types"]["order.created"]["1"]
    assert entry["readable_by"] is None
    assert entry["schema"] == reg.json_schema("order.created", 1)
    assert text.endswith("}\n")
    assert list(doc) == sorted(doc)


def test_unchanged_registry_matches_its_lock() -> None:
    """A registry compared with its own lock has no problems; a later version is fine."""
    lock = json.loads(_lock.dumps_lock(_lock.make_lock(_orders(V1))))

    class V2(msgspec.Struct):
        order_id: str
        total: int
        note: str = ""

    assert _lock.compare_lock(_orders(V1), lock) == []
    assert _lock.compare_lock(_orders(V1, V2, readable_by=1), lock) == []


def test_changed_locked_model_names_the_field() -> None:
    """Changing a field type of a locked version is reported with type, version and field."""
    lock = _lock.make_lock(_orders(V1))

    class V1b(msgspec.Struct):
        order_id: str
        total: float
        currency: str

    problems = _lock.compare_lock(_orders(V1b), lock)
    assert len(problems) == 1
    text = problems[0]
    assert text.startswith("order.created v1: the model changed since the lock")
    assert "field 'total' changed" in text
    assert "field 'currency' added (required)" in text
    assert "register the new shape as v2" in text


def test_renamed_class_and_docstring_are_not_changes() -> None:
    """Titles, descriptions and $defs names do not reach the wire, so they do not count."""
    lock = _lock.make_lock(_orders(V1))

    class OrderCreatedRenamed(msgspec.Struct):
        """Now with a docstring."""

        order_id: str
        total: int

    assert _lock.compare_lock(_orders(OrderCreatedRenamed), lock) == []


def test_removed_locked_version_is_reported() -> None:
    """A version in the lock that is no longer registered is a problem."""
    lock = _lock.make_lock(_orders(V1))
    reg = vm.Registry()
    reg.message("invoice.paid", version=1)(V1)
    assert _lock.compare_lock(reg, lock) == [
        "order.created v1: locked but no longer registered (re-run `versioned-msgs lock` "
        "if it was removed on purpose)"
    ]


def test_true_readable_by_claim_passes() -> None:
    """An additive v2 (an optional new field) is readable by v1."""

    class V2(msgspec.Struct):
        order_id: str
        total: int
        note: str = ""

    assert _lock.verify_readable_by(_orders(V1, V2, readable_by=1)) == []


def test_false_claim_removed_required_field() -> None:
    """v2 drops a field v1 requires: the claim is false and the field is named."""

    class V2(msgspec.Struct):
        order_id: str

    assert _lock.verify_readable_by(_orders(V1, V2, readable_by=1)) == [
        "order.created v2 declares readable_by=1, but a v1 reader cannot read it: "
        "field 'total' is required by the older model and missing from the newer"
    ]


def test_false_claim_changed_type() -> None:
    """v2 writes a float where v1 requires an int; int -> float the other way is fine."""

    class V2(msgspec.Struct):
        order_id: str
        total: float

    problems = _lock.verify_readable_by(_orders(V1, V2, readable_by=1))
    assert len(problems) == 1
    assert "field 'total' may be number in the newer model" in problems[0]

    class F1(msgspec.Struct):
        total: float

    class F2(msgspec.Struct):
        total: int

    assert _lock.verify_readable_by(_orders(F1, F2, readable_by=1)) == []


def test_false_claim_nullable_and_enum_widening() -> None:
    """A field becoming nullable or gaining enum values breaks older readers."""

    class E1(msgspec.Struct):
        state: Literal["new", "paid"]
        total: int

    class E2(msgspec.Struct):
        state: Literal["new", "paid", "refunded"]
        total: int | None

    problems = _lock.verify_readable_by(_orders(E1, E2, readable_by=1))
    assert any("field 'state' may be ['refunded']" in p for p in problems)
    assert any("field 'total' may be null" in p for p in problems)


def test_false_claim_forbid_unknown_fields() -> None:
    """An older model that forbids unknown fields cannot read a newer one that adds fields."""

    class S1(msgspec.Struct, forbid_unknown_fields=True):
        order_id: str

    class S2(msgspec.Struct):
        order_id: str
        note: str = ""

    assert _lock.verify_readable_by(_orders(S1, S2, readable_by=1)) == [
        "order.created v2 declares readable_by=1, but a v1 reader cannot read it: "
        "the older model forbids unknown fields and the newer adds 'note'"
    ]


def test_nested_and_pydantic_models() -> None:
    """Nested objects are checked field by field, for pydantic models too."""

    class Line1(pydantic.BaseModel):
        sku: str
        qty: int

    class P1(pydantic.BaseModel):
        lines: list[Line1]

    class Line2(pydantic.BaseModel):
        sku: str

    class P2(pydantic.BaseModel):
        lines: list[Line2]

    problems = _lock.verify_readable_by(_orders(P1, P2, readable_by=1))
    assert problems == [
        "order.created v2 declares readable_by=1, but a v1 reader cannot read it: "
        "field 'lines[].qty' is required by the older model and missing from the newer"
    ]


def test_claim_checks_every_reader_in_range() -> None:
    """readable_by=1 on v3 is checked against both v1 and v2."""

    class A1(msgspec.Struct):
        a: int

    class A2(msgspec.Struct):
        a: int
        b: int

    class A3(msgspec.Struct):
        a: int
        c: int = 0

    reg = vm.Registry()
    reg.message("t", version=1)(A1)
    reg.message("t", version=2)(A2)
    reg.message("t", version=3, readable_by=1)(A3)
    problems = _lock.verify_readable_by(reg)
    assert problems == [
        "t v3 declares readable_by=1, but a v2 reader cannot read it: field 'b' is "
        "required by the older model and missing from the newer"
    ]


def test_loads_lock_rejects_other_json() -> None:
    """A file that is not a lock is refused with the file name and what was found."""
    with pytest.raises(ValueError, match=r"x\.json: expected a versioned-msgs lock"):
        _lock.loads_lock('{"a": 1}', where="x.json")
    with pytest.raises(ValueError, match="invalid JSON"):
        _lock.loads_lock("{", where="x.json")


def test_normalize_keeps_a_property_named_title() -> None:
    """Annotation keywords are dropped, but a field called 'title' is not."""

    class Doc(msgspec.Struct):
        """Described."""

        title: str

    norm = _lock.normalize(msgspec.json.schema(Doc))
    assert norm == {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
    }
