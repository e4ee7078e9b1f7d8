"""The `order.created` message type in three versions, shared by producers and consumers.

Ship this module (or a package holding it) with every function that writes or reads orders.
Each version keeps its model; upgraders turn an older payload into the next version,
downgraders go back one step so a pinned producer can keep writing an older version. The
v1 -> v2 pair works on JSON dicts; the v2 <-> v3 pair is typed: it receives and returns the
models themselves.
"""

# --8<-- [start:setup]
from typing import Any

import msgspec

import versioned_msgs as vm

registry = vm.Registry()
# --8<-- [end:setup]


# --8<-- [start:v1]
@registry.message("order.created", version=1)
class OrderCreatedV1(msgspec.Struct, frozen=True):
    order_id: str
    amount: int  # in cents


# --8<-- [end:v1]


# --8<-- [start:v2]
# v2 adds a field with a default: a v1 reader can read v2 as-is, so it says readable_by=1.
@registry.message("order.created", version=2, readable_by=1)
class OrderCreatedV2(msgspec.Struct, frozen=True):
    order_id: str
    amount: int  # in cents
    currency: str = "EUR"


@registry.upgrader("order.created", from_version=1)
def v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "currency": "EUR"}  # every v1 order was taken in euros


@registry.downgrader("order.created", from_version=2)
def v2_to_v1(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "currency"}


# --8<-- [end:v2]


# --8<-- [start:v3]
# v3 renames `amount` and nests it: a breaking change, so no readable_by.
class Money(msgspec.Struct, frozen=True):
    cents: int
    currency: str


@registry.message("order.created", version=3)
class OrderCreated(msgspec.Struct, frozen=True):
    order_id: str
    total: Money


# Typed: annotated with the v2 and v3 models, so v2 bodies are decoded into OrderCreatedV2
# (and validated by it) before the upgrader runs, and mypy checks the fields used.
@registry.upgrader("order.created", from_version=2)
def v2_to_v3(old: OrderCreatedV2) -> OrderCreated:
    return OrderCreated(order_id=old.order_id, total=Money(old.amount, old.currency))


@registry.downgrader("order.created", from_version=3)
def v3_to_v2(new: OrderCreated) -> OrderCreatedV2:
    return OrderCreatedV2(new.order_id, amount=new.total.cents, currency=new.total.currency)


# --8<-- [end:v3]


registry.check()  # fails the cold start if a version cannot reach the next one
