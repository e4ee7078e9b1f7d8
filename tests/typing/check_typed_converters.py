"""Static checks of typed and dict converters; run by tests/test_typing.py under mypy --strict.

Nothing here is executed by pytest. A typed converter (first parameter a model, returning a
model) and a dict converter (``dict -> dict``) are both accepted by ``Registry.upgrader`` and
``Registry.downgrader`` without a cast, and keep their own signatures. Which model a version
has is known only when the program runs (``registry.check()``), so mypy checks what it can:
a converter returning neither a model nor a dict, and a typed converter's body against its
own annotations. ``type: ignore[code]`` lines must keep erroring (strict mode warns on unused
ignores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pydantic
from typing_extensions import assert_type

import versioned_msgs as vm

registry = vm.Registry()


@registry.message("order.created", version=1)
class OrderV1(msgspec.Struct):
    order_id: str
    amount_cents: int


@registry.message("order.created", version=2)
class OrderV2(pydantic.BaseModel):
    order_id: str
    amount: str


# The typed form: msgspec Structs and pydantic models alike.
@registry.upgrader("order.created", from_version=1)
def v1_to_v2(old: OrderV1) -> OrderV2:
    return OrderV2(order_id=old.order_id, amount=f"{old.amount_cents / 100:.2f}")


@registry.downgrader("order.created", from_version=2)
def v2_to_v1(new: OrderV2) -> OrderV1:
    return OrderV1(new.order_id, round(float(new.amount) * 100))


# The dict form, as the API reference and the tutorial write it.
@registry.upgrader("order.archived", from_version=1)
def archived_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "archived": True}


# The README's short form (bare dict: --strict wants type arguments, the decorator does not).
@registry.upgrader("greeting", from_version=1)
def greeting_v1_to_v2(payload: dict) -> dict:  # type: ignore[type-arg]
    return {**payload, "lang": "en"}


# Returning something that is neither a model nor a dict is refused by the decorator.
@registry.upgrader("order.created", from_version=1)  # type: ignore[type-var]
def returns_a_dict_from_a_model(old: OrderV1) -> dict[str, Any]:
    return {"order_id": old.order_id}


@registry.upgrader("order.created", from_version=1)  # type: ignore[type-var]
def returns_nothing(old: OrderV1) -> None:
    return None


# A typed converter's body is checked against its own annotations.
@registry.upgrader("order.created", from_version=1)
def returns_the_old_model(old: OrderV1) -> OrderV2:
    return old  # type: ignore[return-value]


def check_converters_keep_their_signatures() -> None:
    assert_type(v1_to_v2(OrderV1("o", 1)), OrderV2)
    assert_type(v2_to_v1(OrderV2(order_id="o", amount="0.01")), OrderV1)
    assert_type(archived_v1_to_v2({}), dict[str, Any])
    v1_to_v2(OrderV2(order_id="o", amount="1"))  # type: ignore[arg-type]
    typed: Callable[[OrderV1], OrderV2] = v1_to_v2
    assert_type(typed(OrderV1("o", 1)), OrderV2)
    registry.upgrader("order.lambda", from_version=1)(lambda d: {**d, "x": 1})
    assert_type(registry.chain("order.created", 1, 2), list[Callable[[Any], Any]])
