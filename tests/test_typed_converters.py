"""Typed upgraders and downgraders: converters written against the models themselves.

A converter is typed when its first parameter is annotated with the model registered at its
``from_version``: it receives an instance of that model (an old body is decoded straight
into it) and must return an instance of the next version's model. This module uses
``from __future__ import annotations``, so every converter here has string annotations that
the registry resolves.
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import pydantic
import pytest

import versioned_msgs as vm
from versioned_msgs._aws.backfill import upgrade_object
from versioned_msgs._cli.main import main
from versioned_msgs._core.registry import upgrading_decoder
from versioned_msgs.s3batch import make_handler
from versioned_msgs.testing import (
    Emulator,
    eventbridge_event,
    kinesis_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)

TYPE = "order.created"


class OrderV1(msgspec.Struct):
    order_id: str
    amount_cents: int


class OrderV2(msgspec.Struct):
    order_id: str
    amount: str
    currency: str


class OrderV3(msgspec.Struct):
    order_id: str
    amount: str
    currency: str
    channel: str


class POrderV1(pydantic.BaseModel):
    order_id: str
    amount_cents: int


class POrderV2(pydantic.BaseModel):
    order_id: str
    amount: str
    currency: str


class OrderV2Plus(OrderV2):
    """A subclass of the v2 model: not the v2 model itself."""

    note: str = ""


def _v2_fields(old: Any) -> dict[str, Any]:
    return {"order_id": old.order_id, "amount": f"{old.amount_cents / 100:.2f}", "currency": "EUR"}


def v1_to_v2(old: OrderV1) -> OrderV2:
    return OrderV2(**_v2_fields(old))


def p1_to_p2(old: POrderV1) -> POrderV2:
    return POrderV2(**_v2_fields(old))


def v1_to_p2(old: OrderV1) -> POrderV2:
    return POrderV2(**_v2_fields(old))


def p1_to_v2(old: POrderV1) -> OrderV2:
    return OrderV2(**_v2_fields(old))


def v2_to_v1(new: OrderV2) -> OrderV1:
    return OrderV1(new.order_id, round(float(new.amount) * 100))


def p2_to_p1(new: POrderV2) -> POrderV1:
    return POrderV1(order_id=new.order_id, amount_cents=round(float(new.amount) * 100))


def v2_to_v3(old: OrderV2) -> OrderV3:
    return OrderV3(old.order_id, old.amount, old.currency, "web")


def v3_to_v2(new: OrderV3) -> OrderV2:
    return OrderV2(new.order_id, new.amount, new.currency)


def v1_to_v2_dict(data: dict[str, Any]) -> dict[str, Any]:
    cents = data.pop("amount_cents")
    return {**data, "amount": f"{cents / 100:.2f}", "currency": "EUR"}


def v2_to_v1_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": data["order_id"], "amount_cents": round(float(data["amount"]) * 100)}


def v2_to_v3_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "channel": "web"}


def v3_to_v2_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "channel"}


def registry_of(
    *models: type[Any],
    up: Mapping[int, Callable[..., Any]] | None = None,
    down: Mapping[int, Callable[..., Any]] | None = None,
) -> vm.Registry:
    """``order.created`` with ``models`` as v1, v2, ... and the given converters."""
    registry = vm.Registry()
    for version, model in enumerate(models, start=1):
        registry.message(TYPE, version=version)(model)
    for version, fn in (up or {}).items():
        registry.upgrader(TYPE, from_version=version)(fn)
    for version, fn in (down or {}).items():
        registry.downgrader(TYPE, from_version=version)(fn)
    return registry


def spied(upgrade: Callable[[Any], Any], calls: list[Any]) -> Callable[[Any], Any]:
    """``upgrade`` under the same annotations (so in the same form), recording what it is
    given in ``calls``."""

    def spy(old: Any) -> Any:
        calls.append(old)
        return upgrade(old)

    spy.__annotations__ = dict(upgrade.__annotations__)
    return spy


def collecting(
    registry: vm.Registry, model: type[Any], **options: Any
) -> tuple[vm.Consumer, list[Any]]:
    """A consumer (built with ``options``) whose handler of ``model`` keeps every message
    it is given."""
    got: list[Any] = []
    consumer = vm.Consumer(registry, **options)
    consumer.handler(model)(lambda msg, meta: got.append(msg))
    return consumer, got


def typed_orders() -> vm.Registry:
    """v1 and v2 Structs, a typed upgrader and a typed downgrader between them."""
    registry = registry_of(OrderV1, OrderV2, up={1: v1_to_v2}, down={2: v2_to_v1})
    registry.check()
    return registry


V1_BODY = b'{"order_id":"o-1","amount_cents":1250}'
V1_STAMP = vm.Stamp(type=TYPE, version=1)


# ---- the two forms ---------------------------------------------------------------------------

KINDS = {
    "msgspec": (OrderV1, OrderV2, v1_to_v2),
    "pydantic": (POrderV1, POrderV2, p1_to_p2),
    "msgspec to pydantic": (OrderV1, POrderV2, v1_to_p2),
    "pydantic to msgspec": (POrderV1, OrderV2, p1_to_v2),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_typed_upgrader_receives_the_old_model_and_returns_the_new(kind: str) -> None:
    """With msgspec Structs, pydantic models or one of each, a typed upgrader is given an
    instance of the v1 model (not a dict) and ``decode`` returns the v2 instance it made."""
    old_model, new_model, upgrade = KINDS[kind]
    received: list[Any] = []
    registry = registry_of(old_model, new_model, up={1: spied(upgrade, received)})
    registry.check()
    written = registry.encode(old_model(order_id="o-1", amount_cents=1250))
    msg, meta = registry.decode(written.body, written.stamp)
    assert received == [old_model(order_id="o-1", amount_cents=1250)]
    assert type(received[0]) is old_model
    assert msg == new_model(order_id="o-1", amount="12.50", currency="EUR")
    assert (meta.upgraded_from, meta.model_version) == (1, 2)


@pytest.mark.parametrize("annotation", ["none", "dict", "dict[str, Any]", "Mapping[str, Any]"])
def test_unannotated_and_dict_annotated_converters_keep_the_dict_form(annotation: str) -> None:
    """A converter whose first parameter is not annotated with a model (no annotation,
    ``dict``, ``dict[str, Any]``, a Mapping) receives the JSON dict, as before."""
    received: list[Any] = []

    def upgrade(data):  # type: ignore[no-untyped-def]
        received.append(data)
        return v1_to_v2_dict(dict(data))

    if annotation != "none":
        upgrade.__annotations__ = {"data": annotation, "return": "dict[str, Any]"}
    registry = registry_of(OrderV1, OrderV2, up={1: upgrade})
    registry.check()
    msg, _ = registry.decode(V1_BODY, V1_STAMP)
    assert received == [{"order_id": "o-1", "amount_cents": 1250}]
    assert msg == OrderV2("o-1", "12.50", "EUR")


class Scaler:
    """A converter object: its class annotations (names of this module, which an object
    carries no globals to resolve) say nothing about its form."""

    rounding: Literal["down"] = "down"

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return v1_to_v2_dict(data)


def test_a_callable_object_keeps_the_dict_form() -> None:
    """A converter that is an object, not a function, is in the dict form whatever its
    class annotates; check() has nothing to say about it."""
    registry = registry_of(OrderV1, OrderV2, up={1: Scaler()})
    registry.check()
    msg, _ = registry.decode(V1_BODY, V1_STAMP)
    assert msg == OrderV2("o-1", "12.50", "EUR")


CHAINS = {
    "typed, dict": ({1: v1_to_v2, 2: v2_to_v3_dict}, {3: v3_to_v2_dict, 2: v2_to_v1}),
    "dict, typed": ({1: v1_to_v2_dict, 2: v2_to_v3}, {3: v3_to_v2, 2: v2_to_v1_dict}),
    "typed, typed": ({1: v1_to_v2, 2: v2_to_v3}, {3: v3_to_v2, 2: v2_to_v1}),
}


@pytest.mark.parametrize("forms", list(CHAINS))
def test_typed_and_dict_steps_mix_in_one_chain(forms: str) -> None:
    """v1 -> v2 -> v3 and back with the steps typed or dict in any mix: the data changes
    form between steps (a model instance for a typed step, its JSON builtins for a dict
    one), and both directions give the expected payloads."""
    up, down = CHAINS[forms]
    registry = registry_of(OrderV1, OrderV2, OrderV3, up=up, down=down)
    registry.check()
    msg, meta = registry.decode(V1_BODY, V1_STAMP)
    assert msg == OrderV3("o-1", "12.50", "EUR", "web")
    assert meta.upgraded_from == 1
    pinned = registry.encode(OrderV3("o-2", "3.10", "USD", "app"), as_version=1)
    assert pinned.stamp.version == 1
    assert json.loads(pinned.body) == {"order_id": "o-2", "amount_cents": 310}


class LateV1(msgspec.Struct):
    n: int


LATE = vm.Registry()
LATE.message("late", version=1)(LateV1)


@LATE.upgrader("late", from_version=1)
def late_up(old: LateV1) -> LateV2:  # LateV2 is defined below: resolved at check()
    return LateV2(old.n, "later")


@LATE.message("late", version=2)
class LateV2(msgspec.Struct):
    n: int
    label: str


def test_a_name_defined_after_the_converter_is_resolved_later() -> None:
    """A typed upgrader whose return annotation names a class defined further down its
    module (not resolvable when it was registered) is typed once the module has run:
    check() passes and v1 bodies are decoded into LateV1 for it."""
    LATE.check()
    msg, _ = LATE.decode(b'{"n": 3}', vm.Stamp(type="late", version=1))
    assert msg == LateV2(3, "later")
    with pytest.raises(vm.PayloadError, match="does not fit the v1 model LateV1"):
        LATE.decode(b'{"n": "three"}', vm.Stamp(type="late", version=1))


def test_annotations_that_never_resolve_are_reported_by_check_and_at_construction() -> None:
    """A converter whose annotations name something undefined cannot be told typed or dict:
    check() reports it (type, version, function and the missing name), and a Consumer or
    a Publisher built on that registry raises the same RegistryError."""

    def up(old: Undefined) -> OrderV2:  # type: ignore[name-defined]  # noqa: F821
        raise AssertionError("never runs")

    registry = registry_of(OrderV1, OrderV2, up={1: up})
    with pytest.raises(vm.RegistryError) as info:
        registry.check()
    (problem,) = info.value.problems
    assert problem.startswith("order.created: the upgrader from v1 to v2 (")
    assert "up)" in problem
    assert "cannot resolve its annotations" in problem
    assert "name 'Undefined' is not defined" in problem
    with pytest.raises(vm.RegistryError, match="Undefined"):
        vm.Consumer(registry)
    with pytest.raises(vm.RegistryError, match="Undefined"):
        vm.Publisher(registry, producer=None)


# ---- registration errors ---------------------------------------------------------------------


def v1_named_as_v2(old: OrderV2) -> OrderV3:
    return OrderV3(old.order_id, old.amount, old.currency, "web")


def takes_another_types_model(old: InvoiceV1) -> OrderV2:
    return OrderV2(str(old.number), "0", "EUR")


class InvoiceV1(msgspec.Struct):
    number: int


def test_a_typed_converter_naming_another_model_is_refused_when_registered() -> None:
    """The annotation names a model other than the one registered at ``from_version``, or
    a model registered as another type: the decorator raises a RegistryError naming the
    type, the version, the function and both models."""
    registry = registry_of(OrderV1, OrderV2, OrderV3)
    registry.message("invoice.paid", version=1)(InvoiceV1)
    with pytest.raises(vm.RegistryError) as info:
        registry.upgrader(TYPE, from_version=1)(v1_named_as_v2)
    assert str(info.value) == (
        "order.created: the typed upgrader from v1 to v2 (v1_named_as_v2) takes OrderV2, "
        "but the v1 model is OrderV1"
    )
    with pytest.raises(vm.RegistryError) as info:
        registry.downgrader(TYPE, from_version=3)(v1_named_as_v2)
    assert str(info.value) == (
        "order.created: the typed downgrader from v3 to v2 (v1_named_as_v2) takes OrderV2, "
        "but the v3 model is OrderV3"
    )

    fresh = vm.Registry()
    fresh.message("invoice.paid", version=1)(InvoiceV1)
    with pytest.raises(vm.RegistryError) as info:
        fresh.upgrader(TYPE, from_version=1)(takes_another_types_model)
    assert str(info.value) == (
        "order.created: the typed upgrader from v1 to v2 (takes_another_types_model) takes "
        "InvoiceV1, but no model is registered at v1 (InvoiceV1 is registered as "
        "invoice.paid v1)"
    )
    assert not fresh._types[TYPE].upgraders  # nothing was registered


def test_a_typed_converter_registered_before_its_models_is_checked_by_check() -> None:
    """Registered before any model, a typed upgrader cannot be judged yet. Once the models
    are in: fine when they match, and when another class took v1, check(), Consumer and
    Publisher report it; with no model at v1 at all, the same."""
    fine = vm.Registry()
    fine.upgrader(TYPE, from_version=1)(v1_to_v2)
    fine.message(TYPE, version=1)(OrderV1)
    fine.message(TYPE, version=2)(OrderV2)
    fine.check()

    swapped = vm.Registry()
    swapped.upgrader(TYPE, from_version=1)(v1_to_v2)
    swapped.message(TYPE, version=1)(POrderV1)
    swapped.message(TYPE, version=2)(OrderV2)
    expected = (
        "order.created: the typed upgrader from v1 to v2 (v1_to_v2) takes OrderV1, but the "
        "v1 model is POrderV1"
    )
    assert swapped.problems() == [expected]
    with pytest.raises(vm.RegistryError, match="takes OrderV1, but the v1 model is POrderV1"):
        vm.Consumer(swapped)
    with pytest.raises(vm.RegistryError, match="takes OrderV1, but the v1 model is POrderV1"):
        vm.Publisher(swapped, producer=None)
    with pytest.raises(vm.RegistryError, match="takes OrderV1"):  # and never runs
        swapped.decode(V1_BODY, V1_STAMP)

    missing = vm.Registry()
    missing.upgrader(TYPE, from_version=1)(v1_to_v2)
    missing.message(TYPE, version=2)(OrderV2)
    assert missing.problems() == [
        "order.created: the typed upgrader from v1 to v2 (v1_to_v2) takes OrderV1, but no "
        "model is registered at v1"
    ]


def returns_v3(old: OrderV1) -> OrderV3:
    return OrderV3(old.order_id, "0", "EUR", "web")


def dict_returning_a_model(data: dict[str, Any]) -> OrderV2:
    return OrderV2(data["order_id"], "0", "EUR")


def test_check_reports_return_annotations_that_do_not_match_the_next_model() -> None:
    """check() names a typed converter annotated to return another model than the next
    version's, a typed converter whose next version has no model, and a dict converter
    annotated to return a model (it would be given a dict)."""
    wrong_return = registry_of(OrderV1, OrderV2, up={1: returns_v3})
    assert wrong_return.problems() == [
        "order.created: the typed upgrader from v1 to v2 (returns_v3) is annotated to return "
        "OrderV3, but the v2 model is OrderV2"
    ]
    no_next = vm.Registry()
    no_next.message(TYPE, version=1)(OrderV1)
    no_next.message(TYPE, version=3)(OrderV3)
    no_next.upgrader(TYPE, from_version=1)(v1_to_v2)
    no_next.upgrader(TYPE, from_version=2)(v2_to_v3_dict)
    assert no_next.problems() == [
        "order.created: the typed upgrader from v1 to v2 (v1_to_v2) must return the v2 model, "
        "but no model is registered at v2"
    ]
    half_typed = registry_of(OrderV1, OrderV2, up={1: dict_returning_a_model})
    assert half_typed.problems() == [
        "order.created: the upgrader from v1 to v2 (dict_returning_a_model) takes a dict but "
        "is annotated to return OrderV2: annotate its parameter with the v1 model to make it "
        "typed, or return a dict"
    ]


# ---- runtime errors --------------------------------------------------------------------------


class Refused(Exception):
    pass


def test_a_typed_upgrader_that_raises_is_a_payload_error_with_its_exception_as_cause() -> None:
    """The PayloadError names the converter and the exception's type, not its text (which
    may quote the payload); the exception itself is the ``__cause__``."""

    def up(old: OrderV1) -> OrderV2:
        raise Refused(f"no orders from {old.order_id}")

    registry = registry_of(OrderV1, OrderV2, up={1: up})
    with pytest.raises(vm.PayloadError) as info:
        registry.decode(V1_BODY, V1_STAMP)
    err = info.value
    assert str(err) == (
        "order.created: the typed upgrader from v1 to v2 "
        "(test_a_typed_upgrader_that_raises_is_a_payload_error_with_its_exception_as_cause."
        "<locals>.up) failed: Refused"
    )
    assert isinstance(err.__cause__, Refused)
    assert "o-1" not in str(err)
    assert (err.type, err.version, err.stamp) == (TYPE, 1, V1_STAMP)


def test_an_anonymous_typed_converter_is_named_by_where_it_is_defined() -> None:
    """A typed converter named ``_`` is named in errors by its file and line."""

    def _(old: OrderV1) -> OrderV2:
        raise Refused

    registry = registry_of(OrderV1, OrderV2, up={1: _})
    with pytest.raises(vm.PayloadError, match=r"from v1 to v2 \(at test_typed_converters.py:\d+\)"):
        registry.decode(V1_BODY, V1_STAMP)


WRONG = {
    "a dict": lambda old: {"order_id": old.order_id, "amount": "1", "currency": "EUR"},
    "None": lambda old: None,
    "the old model": lambda old: old,
    "a subclass of the new model": lambda old: OrderV2Plus(old.order_id, "1", "EUR"),
}


@pytest.mark.parametrize("returned", list(WRONG))
def test_a_typed_upgrader_returning_anything_but_the_next_model_is_a_payload_error(
    returned: str,
) -> None:
    """A dict, None, the old model or a subclass of the v2 model: a PayloadError naming the
    converter, whose ``__cause__`` is a TypeError naming the expected and the returned type
    (never a value)."""
    make = WRONG[returned]

    def up(old: OrderV1) -> OrderV2:
        return make(old)  # type: ignore[no-any-return]

    registry = registry_of(OrderV1, OrderV2, up={1: up})
    with pytest.raises(vm.PayloadError) as info:
        registry.decode(V1_BODY, V1_STAMP)
    got = {
        "a dict": "dict",
        "None": "NoneType",
        "the old model": "OrderV1",
        "a subclass of the new model": "OrderV2Plus",
    }[returned]
    assert str(info.value).endswith(f"returned {got}, not the v2 model OrderV2")
    cause = info.value.__cause__
    assert isinstance(cause, TypeError)
    assert str(cause) == f"expected OrderV2, got {got}"


class TicketV1(msgspec.Struct):
    ticket: str
    state: Literal["open", "closed"]


class TicketV2(msgspec.Struct):
    ticket: str
    open: bool


class PTicketV1(pydantic.BaseModel):
    ticket: str
    priority: int


class PTicketV2(pydantic.BaseModel):
    ticket: str
    priority: int
    open: bool


def ticket_up(old: TicketV1) -> TicketV2:
    return TicketV2(old.ticket, old.state == "open")


def pticket_up(old: PTicketV1) -> PTicketV2:
    return PTicketV2(ticket=old.ticket, priority=old.priority, open=True)


MISFITS = {
    # name: (models, upgrader, body, expected end of the message)
    "msgspec, wrong kind": (
        (OrderV1, OrderV2),
        v1_to_v2,
        b'{"order_id":"o-1","amount_cents":"s3cr3t"}',
        "takes: Expected `int`, got `str` - at `$.amount_cents`",
    ),
    "msgspec, missing field": (
        (OrderV1, OrderV2),
        v1_to_v2,
        b'{"order_id":"s3cr3t"}',
        "takes: Object missing required field `amount_cents`",
    ),
    "msgspec, a value outside a Literal": (
        (TicketV1, TicketV2),
        ticket_up,
        b'{"ticket":"t","state":"s3cr3t"}',
        "takes: Invalid enum value - at `$.state`",
    ),
    "pydantic": (
        (PTicketV1, PTicketV2),
        pticket_up,
        b'{"ticket":"t","priority":"s3cr3t"}',
        "takes: priority: int_parsing",
    ),
}


@pytest.mark.parametrize("name", list(MISFITS))
def test_an_old_body_that_does_not_fit_the_old_model_is_refused_before_the_upgrader_runs(
    name: str,
) -> None:
    """The body is decoded straight into the v1 model, so a body that does not fit it is a
    PayloadError naming that model, the field path and the kind of problem, without the
    payload's values; the upgrader is never called."""
    (old_model, new_model), upgrade, body, ending = MISFITS[name]
    calls: list[Any] = []
    spy = spied(upgrade, calls)
    registry = registry_of(old_model, new_model, up={1: spy})
    stamp = vm.Stamp(type=TYPE, version=1)
    with pytest.raises(vm.PayloadError) as info:
        registry.decode(body, stamp)
    text = str(info.value)
    assert text.startswith(
        f"order.created v1: the payload does not fit the v1 model {old_model.__name__} that "
        f"the typed upgrader from v1 to v2 ({spy.__qualname__}) takes: "
    )
    assert text.endswith(ending)
    assert "s3cr3t" not in text
    assert info.value.__cause__ is None
    assert calls == []
    consumer = vm.Consumer(registry)
    consumer.handler(new_model)(lambda msg, meta: None)
    report = consumer.process(sqs_event(vm.Encoded(body, stamp)), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert calls == []


def test_a_typed_steps_result_that_has_no_json_form_for_the_next_dict_step_is_named() -> None:
    """v1 -typed-> v2 -dict-> v3: an OrderV2 holding a value JSON cannot hold cannot be
    handed to the dict step as builtins: a PayloadError naming both, the encoder's
    exception as ``__cause__``."""

    def up(old: OrderV1) -> OrderV2:
        return OrderV2(old.order_id, object(), "EUR")  # type: ignore[arg-type]

    registry = registry_of(OrderV1, OrderV2, OrderV3, up={1: up, 2: v2_to_v3_dict})
    with pytest.raises(vm.PayloadError) as info:
        registry.decode(V1_BODY, V1_STAMP)
    assert str(info.value) == (
        "order.created: the v2 OrderV2 given to the upgrader from v2 to v3 (v2_to_v3_dict) has "
        "no JSON form: TypeError"
    )
    assert isinstance(info.value.__cause__, TypeError)


def test_a_dict_step_whose_result_does_not_fit_the_next_typed_steps_model_is_named() -> None:
    """v1 -dict-> v2 -typed-> v3: a v2 dict that does not fit OrderV2 is a PayloadError
    naming the v2 model the typed step takes, before that step runs."""

    def bad_up(data: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": data["order_id"], "amount": 12}

    registry = registry_of(OrderV1, OrderV2, OrderV3, up={1: bad_up, 2: v2_to_v3})
    with pytest.raises(vm.PayloadError) as info:
        registry.decode(V1_BODY, V1_STAMP)
    assert str(info.value) == (
        "order.created v2: the v2 payload made by the step before does not fit the v2 model "
        "OrderV2 that the typed upgrader from v2 to v3 (v2_to_v3) takes: Expected `str`, got "
        "`int` - at `$.amount`"
    )


# ---- producers: pins and into= ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["msgspec", "pydantic"])
def test_encode_as_an_older_version_runs_typed_downgraders(kind: str) -> None:
    """``encode(as_version=1)`` hands the v2 instance to the typed downgrader and encodes
    the v1 instance it returns; a downgrader returning another type is a PayloadError."""
    if kind == "msgspec":
        registry = typed_orders()
        current: Any = OrderV2("o-9", "4.20", "EUR")
    else:
        registry = registry_of(POrderV1, POrderV2, up={1: p1_to_p2}, down={2: p2_to_p1})
        current = POrderV2(order_id="o-9", amount="4.20", currency="EUR")
    written = registry.encode(current, as_version=1, producer="shop")
    assert written.stamp == vm.Stamp(type=TYPE, version=1, producer="shop")
    assert json.loads(written.body) == {"order_id": "o-9", "amount_cents": 420}
    back, _ = registry.decode(written.body, written.stamp)
    assert back == current

    def down(new: OrderV2) -> OrderV1:
        return new  # type: ignore[return-value]

    broken = registry_of(OrderV1, OrderV2, down={2: down})
    with pytest.raises(vm.PayloadError) as info:
        broken.encode(OrderV2("o", "1", "EUR"), as_version=1)
    assert "the typed downgrader from v2 to v1" in str(info.value)
    assert str(info.value.__cause__) == "expected OrderV1, got OrderV2"


def test_decode_into_an_older_model_runs_typed_downgraders() -> None:
    """``decode(into=OrderV1)`` of a v3 body goes down through typed downgraders; a v4 body
    readable by v3 is read by the v3 model, then downgraded the same way."""
    registry = registry_of(
        OrderV1, OrderV2, OrderV3, up={1: v1_to_v2, 2: v2_to_v3}, down={3: v3_to_v2, 2: v2_to_v1}
    )
    body = b'{"order_id":"o-3","amount":"1.50","currency":"EUR","channel":"app"}'
    msg, meta = registry.decode(body, vm.Stamp(type=TYPE, version=3), into=OrderV1)
    assert msg == OrderV1("o-3", 150)
    assert meta.model_version == 1
    newer = vm.Stamp(type=TYPE, version=4, readable_by=3)
    msg, _ = registry.decode(body[:-1] + b',"extra":1}', newer, into=OrderV1)
    assert msg == OrderV1("o-3", 150)


# ---- consumers -------------------------------------------------------------------------------

SOURCES: dict[str, Callable[..., dict[str, Any]]] = {
    "sqs": sqs_event,
    "sns": sns_event,
    "sns in sqs": sns_sqs_event,
    "kinesis": kinesis_event,
    "eventbridge": eventbridge_event,
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_upgrades_through_a_typed_upgrader(source: str) -> None:
    """SQS, SNS, SNS in SQS, Kinesis (embedded envelope) and EventBridge: a v1 record is
    upgraded by the typed upgrader and handled as OrderV2; a v1 body that does not fit
    OrderV1 and a record the upgrader fails for are rejected with a PayloadError."""

    def up(old: OrderV1) -> OrderV2:
        if old.order_id == "boom":
            raise Refused("boom")
        return v1_to_v2(old)

    consumer, seen = collecting(registry_of(OrderV1, OrderV2, up={1: up}), OrderV2)
    registry = consumer.registry
    records = [
        registry.encode(OrderV1("o-1", 1250)),
        vm.Encoded(b'{"order_id":"o-2"}', V1_STAMP),
        registry.encode(OrderV1("boom", 1)),
    ]
    # one event each: EventBridge sends one, and a Kinesis shard stops at its first failure
    results = [consumer.process(SOURCES[source](r), None).records[0] for r in records]
    assert [r.outcome for r in results] == ["upgraded", "rejected", "rejected"]
    assert seen == [OrderV2("o-1", "12.50", "EUR")]
    misfit, failed = results[1].error, results[2].error
    assert isinstance(misfit, vm.PayloadError)
    assert "does not fit the v1 model OrderV1" in str(misfit)
    assert isinstance(failed, vm.PayloadError)
    assert isinstance(failed.__cause__, Refused)


def test_s3_objects_upgrade_through_a_typed_upgrader(aws: Emulator) -> None:
    """An S3 notification for a stored v1 object: the consumer reads it and the typed
    upgrader makes the OrderV2 the handler gets."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="typed-orders")
    registry = typed_orders()
    written = registry.encode(OrderV1("o-s3", 99))
    etag = s3.put_object(
        Bucket="typed-orders",
        Key="o.json",
        Body=written.body,
        Metadata=written.stamp.to_s3_metadata(),
    )["ETag"]
    consumer, seen = collecting(registry, OrderV2, s3=s3)
    report = consumer.process(s3_event("typed-orders", "o.json", etag), None)
    assert [r.outcome for r in report.records] == ["upgraded"]
    assert seen == [OrderV2("o-s3", "0.99", "EUR")]


class LooseV1(msgspec.Struct):
    """Nothing required: an embedded envelope would decode into it."""

    id: str = ""
    qty: int = 0


class LooseV2(msgspec.Struct):
    id: str
    qty: int
    unit: str


class PLooseV1(pydantic.BaseModel):
    id: str = ""
    qty: int = 0


def loose_up(old: LooseV1) -> LooseV2:
    return LooseV2(old.id, old.qty, "pcs")


def ploose_up(old: PLooseV1) -> LooseV2:
    return LooseV2(old.id, old.qty, "pcs")


@pytest.mark.parametrize("upgrade", [loose_up, ploose_up], ids=["struct", "pydantic"])
def test_a_typed_first_step_refuses_an_envelope_its_model_could_hold(
    upgrade: Callable[[Any], LooseV2],
) -> None:
    """When the v1 model would accept an embedded envelope (nothing required, or a pydantic
    model), the fast path's upgrading decoder still refuses one before the upgrader runs;
    envelope bodies among plain ones get the reference path's results, the envelope's data
    reaching the handler."""
    old_model = LooseV1 if upgrade is loose_up else PLooseV1
    calls: list[Any] = []
    registry = registry_of(old_model, LooseV2, up={1: spied(upgrade, calls)})
    written = [registry.encode(old_model(id=f"m{i}", qty=i)) for i in range(4)]
    decode = upgrading_decoder(registry, TYPE, 1)
    with pytest.raises(ValueError, match="embedded envelope"):
        decode(written[0].embedded())
    assert calls == []
    assert decode(written[1].body) == LooseV2("m1", 1, "pcs")

    event = sqs_event(*written)
    for i in (1, 3):
        event["Records"][i]["body"] = written[i].embedded().decode()

    fast, got_fast = collecting(registry, LooseV2)
    reference, got_reference = collecting(registry, LooseV2)
    report = fast.process(copy.deepcopy(event), None)
    expected = reference._process(copy.deepcopy(event), fast=False)
    assert [r.outcome for r in report.records] == [r.outcome for r in expected.records]
    assert got_fast == got_reference == [LooseV2(f"m{i}", i, "pcs") for i in range(4)]


# ---- producers through AWS, backfills, inspect -----------------------------------------------


def test_a_pinned_publisher_writes_the_old_version_through_typed_downgraders(
    aws: Emulator,
) -> None:
    """``Publisher(pins={type: 1})`` sends an OrderV2 as the v1 payload the typed
    downgrader made; a v1-only consumer handles it as it arrives from a real queue."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="typed-pinned")["QueueUrl"]
    publisher = vm.Publisher(typed_orders(), sqs=sqs, pins={TYPE: 1}, producer="shop:2")
    publisher.send(url, OrderV2("o-p", "7.00", "EUR"))
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )["Messages"]
    assert json.loads(message["Body"]) == {"order_id": "o-p", "amount_cents": 700}
    assert message["MessageAttributes"]["vmsg-version"]["StringValue"] == "1"
    old_reader = vm.Registry()
    old_reader.message(TYPE, version=1)(OrderV1)
    consumer, seen = collecting(old_reader, OrderV1)
    body = message["Body"].encode()
    stamp = vm.Stamp.from_message_attributes(message["MessageAttributes"])
    assert stamp is not None
    report = consumer.process(sqs_event(vm.Encoded(body, stamp)), None)
    assert [r.outcome for r in report.records] == ["handled"]
    assert seen == [OrderV1("o-p", 700)]


def _put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(
        Bucket="typed-archive",
        Key=key,
        Body=body,
        ContentType="application/json",
        Metadata=V1_STAMP.to_s3_metadata(),
    )


def test_upgrade_s3_and_s3_batch_operations_upgrade_through_typed_upgraders(
    aws: Emulator,
) -> None:
    """A stored v1 object is rewritten as v2 by the typed upgrader, by ``upgrade_object``
    (upgrade-s3) and by the S3 Batch Operations handler; a stored v1 object that does not
    fit OrderV1 is left alone, reported as failed naming the v1 model."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="typed-archive")
    registry = typed_orders()
    _put(s3, "good.json", V1_BODY)
    _put(s3, "also-good.json", b'{"order_id":"o-2","amount_cents":5}')
    _put(s3, "bad.json", b'{"order_id":"o-3"}')

    result = upgrade_object(s3, registry, "typed-archive", "good.json")
    assert (result.outcome, result.from_version, result.to_version) == ("upgraded", 1, 2)
    stored = s3.get_object(Bucket="typed-archive", Key="good.json")
    assert json.loads(stored["Body"].read()) == {
        "order_id": "o-1",
        "amount": "12.50",
        "currency": "EUR",
    }
    assert stored["Metadata"]["vmsg-version"] == "2"

    bad = upgrade_object(s3, registry, "typed-archive", "bad.json")
    assert bad.outcome == "failed"
    assert "does not fit the v1 model OrderV1" in bad.detail

    handler = make_handler(registry, s3)
    out = handler(
        {
            "invocationSchemaVersion": "2.0",
            "invocationId": "typed",
            "job": {"id": "job", "userArguments": {}},
            "tasks": [
                {"taskId": "a", "s3Bucket": "typed-archive", "s3Key": "also-good.json"},
                {"taskId": "b", "s3Bucket": "typed-archive", "s3Key": "bad.json"},
            ],
        },
        None,
    )
    assert [r["resultCode"] for r in out["results"]] == ["Succeeded", "PermanentFailure"]
    assert "does not fit the v1 model OrderV1" in out["results"][1]["resultString"]
    stored = s3.get_object(Bucket="typed-archive", Key="also-good.json")
    assert json.loads(stored["Body"].read())["amount"] == "0.05"


# ---- the command line: inspect, check, lock --------------------------------------------------

MODULE = """\
from __future__ import annotations

from typing import Any

import msgspec

import versioned_msgs as vm

registry = vm.Registry()


@registry.message("order.created", version=1)
class OrderV1(msgspec.Struct):
    order_id: str
    amount_cents: int


@registry.message("order.created", version=2)
class OrderV2(msgspec.Struct):
    order_id: str
    amount: str
    currency: str


@registry.message("order.created", version=3)
class OrderV3(msgspec.Struct):
    order_id: str
    amount: str
    currency: str
    channel: str


{converters}
"""

TYPED_V1 = """
@registry.upgrader("order.created", from_version=1)
def v1_to_v2(old: OrderV1) -> OrderV2:
    return OrderV2(old.order_id, f"{old.amount_cents / 100:.2f}", "EUR")
"""
DICT_V1 = """
@registry.upgrader("order.created", from_version=1)
def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    cents = data.pop("amount_cents")
    return {**data, "amount": f"{cents / 100:.2f}", "currency": "EUR"}
"""
DICT_V2 = """
@registry.upgrader("order.created", from_version=2)
def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "channel": "web"}
"""
TYPED_DOWN = """
@registry.downgrader("order.created", from_version=3)
def v3_to_v2(new: OrderV3) -> OrderV2:
    return OrderV2(new.order_id, new.amount, new.currency)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write ``MODULE`` with the given converters as ``orders_typed.py`` in a fresh current
    directory; returns the ``MODULE:ATTR`` target. ``sys.path`` is restored afterwards, so
    no later test finds this directory's module."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))

    def write(converters: str) -> str:
        source = MODULE.format(converters=textwrap.dedent(converters))
        (tmp_path / "orders_typed.py").write_text(source)
        return "orders_typed:registry"

    yield write
    sys.modules.pop("orders_typed", None)


def test_inspect_names_the_form_of_each_upgrade_step(
    aws: Emulator, project: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``inspect`` of a stored v1 object decodes it through the typed and the dict step and
    says which form each step has; an object that does not fit OrderV1 is reported as
    failing, naming the v1 model."""
    target = project(TYPED_V1 + DICT_V2)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="typed-archive")
    _put(s3, "good.json", V1_BODY)
    _put(s3, "bad.json", b'{"order_id":"o-3"}')
    endpoint = ["--registry", target, "--endpoint-url", aws.endpoint_url]
    assert main(["inspect", "s3://typed-archive/good.json", *endpoint]) == 0
    out = capsys.readouterr().out
    assert "OK upgraded v1 -> v3 into OrderV3 (upgraders: v1->v2 typed, v2->v3 dict)" in out
    assert main(["inspect", "s3://typed-archive/bad.json", *endpoint]) == 0
    out = capsys.readouterr().out
    assert "FAILS: order.created v1: the payload does not fit the v1 model OrderV1" in out


def test_lock_records_each_converters_form_and_check_reports_a_change(
    project: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``lock`` writes the form of every converter; ``check --lock`` passes on the same
    registry, and names a converter that went from typed to dict and one that is gone."""
    target = project(TYPED_V1 + DICT_V2 + TYPED_DOWN)
    assert main(["lock", target, "--out", "orders.lock.json"]) == 0
    lock = json.loads(Path("orders.lock.json").read_text())
    assert lock["converters"] == {
        "order.created": {
            "upgraders": {"1": "typed", "2": "dict"},
            "downgraders": {"3": "typed"},
        }
    }
    assert main(["check", target, "--lock", "orders.lock.json"]) == 0
    capsys.readouterr()

    target = project(DICT_V1 + DICT_V2)
    assert main(["check", target, "--lock", "orders.lock.json"]) == 1
    out = capsys.readouterr().out
    assert "check: 2 problems" in out
    assert "order.created: the upgrader from v1 to v2 was typed in the lock and is dict now" in out
    assert "order.created: the downgrader from v3 to v2 is locked but no longer registered" in out


def test_check_reports_a_typed_converter_whose_annotations_no_longer_match(
    project: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A typed upgrader annotated with a class that is no longer the v1 model: when the
    models are registered first, importing the registry fails naming the converter; when
    the upgrader comes first, ``check`` lists it as a problem. Both exit 1."""
    renamed = TYPED_V1.replace("old: OrderV1", "old: OrderV1Legacy")
    legacy = "class OrderV1Legacy(msgspec.Struct):\n    order_id: str\n"
    target = project(legacy + renamed)
    assert main(["check", target]) == 1
    err = capsys.readouterr().err
    assert "raised RegistryError" in err
    assert "the typed upgrader from v1 to v2 (v1_to_v2) takes OrderV1Legacy, but the v1" in err

    first = MODULE.replace("{converters}", DICT_V2).replace(
        "registry = vm.Registry()\n",
        "registry = vm.Registry()\n\n\n" + legacy + renamed,
    )
    Path("orders_typed.py").write_text(first)
    assert main(["check", target]) == 1
    out = capsys.readouterr().out
    assert "check: 1 problem" in out
    assert "takes OrderV1Legacy, but the v1 model is OrderV1" in out
