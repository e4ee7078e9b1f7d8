"""One trace from checkout to the order handler, across SQS (docs/guides/tracing.md).

The producer sends inside an OpenTelemetry span; the consumer's handler runs in a CONSUMER
span linked to it. Nothing here configures an exporter: that is the application's
OpenTelemetry setup (the ADOT Lambda layer, or a TracerProvider of your own).
"""

from __future__ import annotations

import logging

# --8<-- [start:import]
# Importing OpenTelemetry (before the first message) is what turns tracing on: the library
# never imports it, and does nothing for tracing in a process that has not.
from opentelemetry import trace

# --8<-- [end:import]
import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)
tracer = trace.get_tracer("checkout")
publisher = vm.Publisher(registry)


# --8<-- [start:publish]
def checkout(queue_url: str, order: OrderCreated) -> str:
    with tracer.start_as_current_span("checkout", kind=trace.SpanKind.PRODUCER):
        # Sent with traceparent (and tracestate, if any) beside the stamp.
        return publisher.send(queue_url, order)


# --8<-- [end:publish]


# --8<-- [start:consume]
@vm.consume(registry, OrderCreated)
def lambda_handler(order: OrderCreated, meta: vm.Meta) -> None:
    # This runs in a span "process <queue name>" linked to the checkout span.
    producer = meta.trace_context  # None when the message carried no trace header
    if producer is not None:
        log.info("order sent from trace %s (sampled: %s)", producer.trace_id, producer.sampled)


# --8<-- [end:consume]
