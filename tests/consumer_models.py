"""Models shared by the consumer tests: ``order.created`` v1..v4 and ``invoice.paid`` v1.

The consumer's registry knows v1 and v2; a producer registry also knows v3 (readable by v2
readers: an added field) and v4 (not readable by older readers). ``consumer_registry(typed=
True)`` upgrades v1 with a typed upgrader instead of the dict one.
"""

from __future__ import annotations

from typing import Any

import msgspec

import versioned_msgs as vm


class OrderV1(msgspec.Struct):
    id: str


class OrderV2(msgspec.Struct):
    id: str
    qty: int


class OrderV3(msgspec.Struct):
    id: str
    qty: int
    note: str = ""


class OrderV4(msgspec.Struct):
    id: str
    quantity: int


class InvoiceV1(msgspec.Struct):
    number: int


def _up1(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "qty": 1}


def _up2(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "note": ""}


def typed_up1(old: OrderV1) -> OrderV2:
    """The typed form of ``_up1``. It raises for order id ``m7`` and returns a dict for
    ``m8``, so the differential tests meet a failing typed upgrader and a wrong return."""
    if old.id == "m7":
        raise RuntimeError("typed upgrader refused m7")
    if old.id == "m8":
        return {"id": old.id, "qty": 1}  # type: ignore[return-value]
    return OrderV2(id=old.id, qty=1)


def _up3(d: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in d.items() if k not in ("qty", "note")}
    return {**out, "quantity": d["qty"]}


def consumer_registry(*, invoices: bool = False, typed: bool = False) -> vm.Registry:
    """What the consumer knows: order.created v1 and v2 (plus invoice.paid v1 if asked),
    v1 upgraded by ``typed_up1`` when ``typed``."""
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("order.created", version=2)(OrderV2)
    reg.upgrader("order.created", from_version=1)(typed_up1 if typed else _up1)
    if invoices:
        reg.message("invoice.paid", version=1)(InvoiceV1)
    reg.check()
    return reg


def producer_registry() -> vm.Registry:
    """What a newer producer knows: order.created v1..v4 and invoice.paid v1."""
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("order.created", version=2)(OrderV2)
    reg.message("order.created", version=3, readable_by=2)(OrderV3)
    reg.message("order.created", version=4)(OrderV4)
    reg.upgrader("order.created", from_version=1)(_up1)
    reg.upgrader("order.created", from_version=2)(_up2)
    reg.upgrader("order.created", from_version=3)(_up3)
    reg.message("invoice.paid", version=1)(InvoiceV1)
    reg.check()
    return reg


PRODUCER = producer_registry()


def v1(id: str = "a") -> vm.Encoded:
    return PRODUCER.encode(OrderV1(id=id))


def v2(id: str = "b", qty: int = 2) -> vm.Encoded:
    return PRODUCER.encode(OrderV2(id=id, qty=qty))


def v3(id: str = "c", qty: int = 3) -> vm.Encoded:
    return PRODUCER.encode(OrderV3(id=id, qty=qty, note="new field"))


def v4(id: str = "d", qty: int = 4) -> vm.Encoded:
    return PRODUCER.encode(OrderV4(id=id, quantity=qty))


def invoice(number: int = 7) -> vm.Encoded:
    return PRODUCER.encode(InvoiceV1(number=number))


class Seen:
    """A handler that records what it was given, optionally failing for some ids."""

    def __init__(self, fail_ids: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[Any, vm.Meta]] = []
        self.fail_ids = fail_ids

    def __call__(self, msg: Any, meta: vm.Meta) -> None:
        self.calls.append((msg, meta))
        if getattr(msg, "id", None) in self.fail_ids:
            raise RuntimeError(f"handler refused {msg.id}")

    @property
    def ids(self) -> list[str]:
        return [m.id for m, _ in self.calls]
