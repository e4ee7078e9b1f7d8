"""The demo's message models, as two deployments of one service would know them.

``registry_v1`` is the old code: version 1 of each type. ``registry`` is the new code:
``order.created`` v2 adds a field (readable by v1 readers, so old consumers tolerate it) and
``customer.updated`` v2 splits a field (not readable by v1: old consumers must retry until
the new code reaches them). Try ``versioned-msgs check versioned_msgs._cli.demo_models:registry``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._core.registry import Registry

__all__ = [
    "CustomerUpdated",
    "CustomerUpdatedV1",
    "OrderCreated",
    "OrderCreatedV1",
    "registry",
    "registry_v1",
]

registry = Registry()
registry_v1 = Registry()


@registry_v1.message("order.created", version=1)
@registry.message("order.created", version=1)
class OrderCreatedV1(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    total_cents: int


@registry.message("order.created", version=2, readable_by=1)
class OrderCreated(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    total_cents: int
    currency: str = "EUR"


@registry.upgrader("order.created", from_version=1)
def _order_up(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "currency": "EUR"}


@registry.downgrader("order.created", from_version=2)
def _order_down(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "currency"}


@registry_v1.message("customer.updated", version=1)
@registry.message("customer.updated", version=1)
class CustomerUpdatedV1(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    name: str


@registry.message("customer.updated", version=2)
class CustomerUpdated(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    first_name: str
    last_name: str


@registry.upgrader("customer.updated", from_version=1)
def _customer_up(payload: dict[str, Any]) -> dict[str, Any]:
    first, _, last = str(payload["name"]).partition(" ")
    return {"customer_id": payload["customer_id"], "first_name": first, "last_name": last}


@registry.downgrader("customer.updated", from_version=2)
def _customer_down(payload: dict[str, Any]) -> dict[str, Any]:
    name = f"{payload['first_name']} {payload['last_name']}".strip()
    return {"customer_id": payload["customer_id"], "name": name}
