"""versioned_msgs inside Powertools for AWS Lambda: Logger, Tracer, Idempotency, BatchProcessor.

Powertools' BatchProcessor walks the SQS batch and builds the partial-batch response; the
versioned consumer decodes and upgrades each record and runs the handler. Idempotency makes a
redelivered order charge once. Environment: IDEMPOTENCY_TABLE (a DynamoDB table keyed `id`).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

import versioned_msgs as vm
from orders import OrderCreated, registry

logger = Logger(service="orders")
tracer = Tracer(service="orders")
processor = BatchProcessor(event_type=EventType.SQS)
idempotency = IdempotencyConfig(expires_after_seconds=3600)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])

consumer = vm.Consumer(registry, on_newer="retry")


# --8<-- [start:handler]
@idempotent_function(
    data_keyword_argument="order_id", config=idempotency, persistence_store=persistence
)
def charge(*, order_id: str, cents: int, currency: str) -> dict[str, Any]:
    logger.info("charging", extra={"cents": cents, "currency": currency})
    return {"order_id": order_id, "charged": cents}


@consumer.handler(OrderCreated)
@tracer.capture_method
def order_created(order: OrderCreated, meta: vm.Meta) -> None:
    logger.append_keys(order_id=order.order_id, message_version=meta.version)
    charge(order_id=order.order_id, cents=order.total.cents, currency=order.total.currency)


# --8<-- [end:handler]


# --8<-- [start:record]
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    # consumer.record_handler raises vm.RecordsFailedError for a record that was retried,
    # rejected or failed: Powertools lists it in batchItemFailures.
    return process_partial_response(
        event=event, record_handler=consumer.record_handler, processor=processor, context=context
    )


# --8<-- [end:record]
