"""Static checks of the consumer API's types; run by tests/test_consumer_typing.py under
mypy --strict. Nothing here is executed. ``type: ignore[code]`` lines must keep erroring."""

from __future__ import annotations

from typing import Any

import msgspec
from typing_extensions import assert_type

import versioned_msgs as vm
from versioned_msgs.testing import lambda_sqs_event, sqs_event

registry = vm.Registry()


@registry.message("order.created", version=1)
class OrderV1(msgspec.Struct):
    id: str


@registry.message("order.created", version=2)
class Order(msgspec.Struct):
    id: str
    qty: int


consumer = vm.Consumer(registry, on_newer="park", park_queue_url="q", metrics=vm.EMFMetrics())


@consumer.handler(Order)
def created(order: Order, meta: vm.Meta) -> int:
    return 1


@vm.consume(registry, Order, on_unversioned=1)
def lambda_handler(order: Order, meta: vm.Meta) -> None: ...


def check_handlers_keep_types() -> None:
    assert_type(created(Order(id="a", qty=1), vm.Meta(type="t", version=1)), int)
    assert_type(lambda_handler.consumer, vm.Consumer)
    assert_type(lambda_handler({}, None), Any)

    @consumer.handler(OrderV1)  # type: ignore[arg-type]
    def wrong(order: Order, meta: vm.Meta) -> None: ...

    vm.Consumer(registry, on_newer="drop")  # type: ignore[arg-type]


def check_report() -> None:
    report = consumer.process(sqs_event(registry.encode(Order(id="a", qty=1))), None)
    assert_type(report, vm.Report)
    assert_type(report.records, list[vm.RecordResult])
    assert_type(report.response, dict[str, Any] | None)
    result = report.records[0]
    assert_type(result.outcome, str)
    assert_type(result.message_id, str | None)
    assert_type(result.meta, vm.Meta | None)
    assert_type(result.error, BaseException | None)
    assert_type(report.counts(), dict[tuple[str, int, str], int])
    assert_type(consumer.handle_event(lambda_sqs_event([], "arn"), None), Any)


def check_s3_reader_and_metrics() -> None:
    reader = vm.S3Reader(registry, max_bytes=1024)
    assert_type(reader.get("b", "k", into=Order), tuple[Order, vm.Meta])
    assert_type(reader.get("b", "k", etag="e", version_id="v"), tuple[Any, vm.Meta])
    sink: vm.MetricsSink = vm.MemoryMetrics()
    sink.emit({("order.created", 1, "handled"): 1})
    try:
        consumer.handle_event({}, None)
    except vm.RecordsFailedError as exc:
        assert_type(exc.report, Any)
    except vm.StaleObjectError as exc:
        assert_type(exc.reason, str)
    except vm.EventShapeError as exc:
        assert_type(exc.where, str)
