"""Models of the rollout simulation: three generations of a shop's messages.

- ``order.created``: v1 ``{id, qty}``; v2 adds ``note`` (readable by v1 readers); v3 adds
  ``gift`` (readable by v2 readers only).
- ``invoice.paid``: v1 ``{id, cents}``; v2 ``{id, amount}`` (a decimal string, not readable by
  v1 readers; a downgrader lets pinned producers write v1); v3 adds ``currency`` and is
  readable by nobody older.
- ``refund.issued`` v1: known only to the future producer (unknown to every consumer).

``OLD`` is what old code knows (v1 only), ``NEW`` what the rolled-out code knows (v1..v2),
``FUTURE`` what a producer one release ahead knows (v1..v3 and refunds).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import msgspec

import versioned_msgs as vm

#: ``VMSG_SOAK=1`` (``make soak``) scales every reliability test up.
SOAK = os.environ.get("VMSG_SOAK", "") not in ("", "0")


class OrderV1(msgspec.Struct):
    id: str
    qty: int


class OrderV2(msgspec.Struct):
    id: str
    qty: int
    note: str = ""


class OrderV3(msgspec.Struct):
    id: str
    qty: int
    note: str = ""
    gift: bool = False


class InvoiceV1(msgspec.Struct):
    id: str
    cents: int


class InvoiceV2(msgspec.Struct):
    id: str
    amount: str


class InvoiceV3(msgspec.Struct):
    id: str
    amount: str
    currency: str


class RefundV1(msgspec.Struct):
    id: str
    cents: int


def cents_to_amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def amount_to_cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def _order_up1(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "note": ""}


def _order_down2(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "note"}


def _order_up2(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "gift": False}


def _order_down3(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "gift"}


def _invoice_up1(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "amount": cents_to_amount(d["cents"])}


def _invoice_down2(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "cents": amount_to_cents(d["amount"])}


def _invoice_up2(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "currency": "EUR"}


def _invoice_down3(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "amount": d["amount"]}


def old_registry() -> vm.Registry:
    """Old code: order.created v1 and invoice.paid v1."""
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("invoice.paid", version=1)(InvoiceV1)
    reg.check()
    return reg


def new_registry() -> vm.Registry:
    """Rolled-out code: v1..v2 of both types, upgraders and downgraders."""
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("order.created", version=2, readable_by=1)(OrderV2)
    reg.upgrader("order.created", from_version=1)(_order_up1)
    reg.downgrader("order.created", from_version=2)(_order_down2)
    reg.message("invoice.paid", version=1)(InvoiceV1)
    reg.message("invoice.paid", version=2)(InvoiceV2)
    reg.upgrader("invoice.paid", from_version=1)(_invoice_up1)
    reg.downgrader("invoice.paid", from_version=2)(_invoice_down2)
    reg.check()
    return reg


def future_registry() -> vm.Registry:
    """A producer one release ahead: v1..v3 of both types and refund.issued v1."""
    reg = new_registry()
    reg.message("order.created", version=3, readable_by=2)(OrderV3)
    reg.upgrader("order.created", from_version=2)(_order_up2)
    reg.downgrader("order.created", from_version=3)(_order_down3)
    reg.message("invoice.paid", version=3)(InvoiceV3)
    reg.upgrader("invoice.paid", from_version=2)(_invoice_up2)
    reg.downgrader("invoice.paid", from_version=3)(_invoice_down3)
    reg.message("refund.issued", version=1)(RefundV1)
    reg.check()
    return reg
