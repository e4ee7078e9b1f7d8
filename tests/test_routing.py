"""The route decision (``versioned_msgs._core.routing.route``) shared by every reader."""

from __future__ import annotations

import pytest

from versioned_msgs._core.routing import route


@pytest.mark.parametrize(
    ("written", "readable_by", "reader", "expected"),
    [
        (2, None, 2, "as-is"),
        (2, 1, 2, "as-is"),
        (1, None, 2, "upgrade"),
        (1, None, 5, "upgrade"),
        (3, 2, 2, "tolerate"),
        (3, 1, 2, "tolerate"),
        (3, 3, 2, "newer"),
        (3, None, 2, "newer"),
        (4, 3, 2, "newer"),
        (1, None, None, "unknown"),
        (7, 1, None, "unknown"),
    ],
)
def test_route_table(
    written: int, readable_by: int | None, reader: int | None, expected: str
) -> None:
    """Same version: as-is; older: upgrade; newer: tolerated only when its readable_by is at
    most the reader's version; no model for the type: unknown, whatever the version."""
    assert route(written, readable_by, reader) == expected


def test_inspect_and_decode_agree_on_newer_readable_payloads() -> None:
    """A v3 payload readable by v2 is shown as ``tolerated`` by inspect and read as the v2
    model by ``registry.decode``: both take the decision from the one route function."""
    from consumer_models import PRODUCER, OrderV2, OrderV3, consumer_registry

    from versioned_msgs._cli.inspect import _classify

    enc = PRODUCER.encode(OrderV3(id="a", qty=1, note="n"))
    reg = consumer_registry()
    message = {
        "MessageId": "m1",
        "Body": enc.body.decode(),
        "MessageAttributes": enc.stamp.to_message_attributes(),
    }
    assert _classify(message, reg)[3] == "tolerated"
    msg, meta = reg.decode(enc.body, enc.stamp)
    assert (msg, meta.tolerated) == (OrderV2(id="a", qty=1), True)
