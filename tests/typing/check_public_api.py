"""Static checks of the public API's types; run by tests/test_typing.py under mypy --strict.

Nothing here is executed by pytest. ``assert_type`` fails the mypy run when an inferred type
drifts; ``type: ignore[code]`` lines must keep erroring (strict mode warns on unused ignores).
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
    id: str


@registry.message("order.created", version=2, readable_by=1)
class OrderV2(pydantic.BaseModel):
    id: str
    note: str = ""


def _up(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


up = registry.upgrader("order.created", from_version=1)(_up)
down = registry.downgrader("order.created", from_version=2)(_up)


def check_decorators_keep_types() -> None:
    assert_type(registry.message("order.created", version=1)(OrderV1), type[OrderV1])
    assert_type(OrderV1(id="a"), OrderV1)
    assert_type(OrderV2(id="a"), OrderV2)
    # The converter decorators hand back the function with its own signature.
    assert_type(up({}), dict[str, Any])
    assert_type(down({}), dict[str, Any])
    up(3)  # type: ignore[arg-type]
    keep: Callable[[dict[str, Any]], dict[str, Any]] = down
    assert_type(keep({}), dict[str, Any])


def check_registry() -> None:
    assert_type(registry.check(), None)
    assert_type(registry.current("order.created"), int)
    enc = registry.encode(OrderV2(id="a"))
    assert_type(enc, vm.Encoded)
    assert_type(registry.encode(OrderV1(id="a"), as_version=2, producer="p"), vm.Encoded)
    assert_type(enc.body, bytes)
    assert_type(enc.stamp, vm.Stamp)
    assert_type(enc.embedded(), bytes)
    assert_type(registry.decode(enc.body, enc.stamp, into=OrderV2), tuple[OrderV2, vm.Meta])
    assert_type(registry.decode(enc.body, None, into=OrderV1), tuple[OrderV1, vm.Meta])
    assert_type(registry.decode(enc.body, enc.stamp), tuple[Any, vm.Meta])
    assert_type(registry.decode("{}", enc.stamp), tuple[Any, vm.Meta])
    registry.decode(enc.body, enc.stamp, into=3)  # type: ignore[call-overload]
    registry.encode(OrderV2(id="a"), as_version="2")  # type: ignore[arg-type]


def check_stamp_and_meta() -> None:
    stamp = vm.Stamp(type="order.created", version=2, readable_by=1, producer="p")
    assert_type(stamp.type, str)
    assert_type(stamp.version, int)
    assert_type(stamp.readable_by, int | None)
    assert_type(stamp.producer, str | None)
    assert_type(stamp.content_type, str)
    assert_type(stamp.to_message_attributes(), dict[str, dict[str, str]])
    assert_type(stamp.to_s3_metadata(), dict[str, str])
    assert_type(vm.Stamp.from_message_attributes({}), vm.Stamp | None)
    assert_type(vm.Stamp.from_s3_metadata({}, content_type="application/json"), vm.Stamp | None)
    stamp.version = 3  # type: ignore[misc]
    vm.Stamp(type="a")  # type: ignore[call-arg]
    _, meta = registry.decode(b"{}", stamp)
    assert_type(meta.type, str)
    assert_type(meta.version, int)
    assert_type(meta.upgraded_from, int | None)
    assert_type(meta.source, str | None)
    assert_type(meta.message_id, str | None)
    assert_type(meta.attributes, dict[str, Any])
    assert_type(meta.tolerated, bool)
    trace = meta.trace_context
    assert_type(trace, vm.TraceContext | None)
    if trace is not None:
        assert_type(trace.traceparent, str)
        assert_type(trace.sampled, bool)
        assert_type(trace.tracestate, str | None)
        trace.flags = 0  # type: ignore[misc]
    assert_type(vm.TraceContext.from_xray("Root=..."), vm.TraceContext | None)


def check_errors() -> None:
    try:
        registry.check()
    except vm.RegistryError as exc:
        assert_type(exc.problems, list[str])
    except vm.StampError as exc:
        assert_type(exc.field, str | None)
        assert_type(exc.message_id, str | None)
    except vm.UnknownTypeError as exc:
        assert_type(exc.type, str)
        assert_type(exc.known, list[str])
    except vm.UnsupportedVersionError as exc:
        assert_type(exc.version, int)
        assert_type(exc.current, int | None)
    except vm.LimitExceededError as exc:
        assert_type(exc.limit, str)
