"""The tutorial's rollout of order.created v2 and v3, one test per step.

Functions already deployed keep the registry they were built with: `deployed(n)` rebuilds the
registry as it was when order.created was at version n, from the same model classes.
"""

from __future__ import annotations

import versioned_msgs as vm
from orders import (
    Money,
    OrderCreated,
    OrderCreatedV1,
    OrderCreatedV2,
    registry,
    v1_to_v2,
    v2_to_v3,
)
from versioned_msgs.testing import sqs_event


# --8<-- [start:helpers]
def deployed(up_to: int) -> vm.Registry:
    """The order registry as it was when order.created v`up_to` was the newest version."""
    old = vm.Registry()
    for version, model in ((1, OrderCreatedV1), (2, OrderCreatedV2), (3, OrderCreated)):
        if version <= up_to:
            readable_by = registry.readable_by("order.created", version)
            old.message("order.created", version=version, readable_by=readable_by)(model)
    for version, upgrader in ((1, v1_to_v2), (2, v2_to_v3)):
        if version < up_to:
            old.upgrader("order.created", from_version=version)(upgrader)
    old.check()
    return old


def outcomes(consumer: vm.Consumer, *encoded: vm.Encoded) -> list[str]:
    report = consumer.process(sqs_event(*encoded), None)
    return [r.outcome for r in report.records]


def v1_reader() -> vm.Consumer:
    consumer = vm.Consumer(deployed(1), on_newer="retry")
    consumer.handler(OrderCreatedV1)(lambda order, meta: None)
    return consumer


def v2_reader() -> vm.Consumer:
    consumer = vm.Consumer(deployed(2), on_newer="retry")
    consumer.handler(OrderCreatedV2)(lambda order, meta: None)
    return consumer


# --8<-- [end:helpers]


# --8<-- [start:additive]
def test_a_v1_reader_tolerates_v2_because_it_is_readable_by_v1() -> None:
    v2 = deployed(2).encode(OrderCreatedV2(order_id="o-1", amount=500, currency="USD"))
    assert v2.stamp.readable_by == 1
    assert outcomes(v1_reader(), v2) == ["tolerated"]


def test_a_v2_reader_upgrades_v1() -> None:
    v1 = deployed(1).encode(OrderCreatedV1(order_id="o-2", amount=500))
    assert outcomes(v2_reader(), v1) == ["upgraded"]


# --8<-- [end:additive]


# --8<-- [start:breaking]
def test_a_v2_reader_retries_v3_it_cannot_read() -> None:
    v3 = registry.encode(OrderCreated(order_id="o-3", total=Money(500, "USD")))
    assert v3.stamp.readable_by is None  # v3 is a breaking change
    report = v2_reader().process(sqs_event(v3), None)
    assert [r.outcome for r in report.records] == ["retried"]
    assert report.response == {
        "batchItemFailures": [{"itemIdentifier": report.records[0].message_id}]
    }


# --8<-- [end:breaking]


# --8<-- [start:pinned]
def test_a_pinned_publisher_writes_v2_that_every_reader_can_read() -> None:
    publisher = vm.Publisher(registry, pins={"order.created": 2})
    written = publisher.encode(OrderCreated(order_id="o-4", total=Money(500, "USD")))
    assert written.stamp.version == 2
    assert outcomes(v1_reader(), written) == ["tolerated"]
    assert outcomes(v2_reader(), written) == ["handled"]


# --8<-- [end:pinned]


# --8<-- [start:expanded]
def test_a_v3_reader_handles_every_version_still_in_flight() -> None:
    consumer = vm.Consumer(registry, on_newer="retry")
    consumer.handler(OrderCreated)(lambda order, meta: None)
    v1 = registry.encode(OrderCreatedV1(order_id="o-5", amount=1))
    v2 = registry.encode(OrderCreatedV2(order_id="o-6", amount=2))
    v3 = registry.encode(OrderCreated(order_id="o-7", total=Money(3, "EUR")))
    assert outcomes(consumer, v1, v2, v3) == ["upgraded", "upgraded", "handled"]


# --8<-- [end:expanded]


# --8<-- [start:typed]
def test_a_v2_body_that_does_not_fit_the_v2_model_is_rejected_before_upgrading() -> None:
    consumer = vm.Consumer(registry)
    consumer.handler(OrderCreated)(lambda order, meta: None)
    v2 = registry.stamp("order.created", 2)
    broken = vm.Encoded(b'{"order_id": "o-8", "amount": "5.00", "currency": "EUR"}', v2)
    report = consumer.process(sqs_event(broken), None)
    assert [r.outcome for r in report.records] == ["rejected"]  # the upgrader never ran
    assert "does not fit the v2 model OrderCreatedV2" in str(report.records[0].error)


# --8<-- [end:typed]
