"""Powertools' batch utility with ``consumer.record_handler``, against ``consumer.handle_event``.

On a standard queue the two give the same ``batchItemFailures``. Where they differ, the tests
pin the difference the Powertools guide warns about: on a FIFO queue ``BatchProcessor``
keeps going after a failure inside a message group, and when every record fails Powertools
raises instead of answering.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from interop_support import (
    TYPE,
    Catalog,
    CatalogV1,
    LambdaContext,
    Seen,
    import_tool,
    make_consumer,
    queue,
    receive,
    registry,
    submodule,
)

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_sqs_event, sqs_event

batch = import_tool("aws_lambda_powertools.utilities.batch", "aws-lambda-powertools is missing")
BatchProcessingError = submodule(batch, "exceptions").BatchProcessingError
BatchProcessor = batch.BatchProcessor
EventType = batch.EventType
SqsFifoPartialProcessor = batch.SqsFifoPartialProcessor
process_partial_response = batch.process_partial_response


def _catalog(catalog_id: str) -> vm.Encoded:
    return registry.encode(Catalog(catalog_id=catalog_id, items=["i"], region="us"))


def _newer(catalog_id: str) -> vm.Encoded:
    """A v3 message, written by a producer deployed before this reader: not readable here."""
    body = f'{{"catalog_id": "{catalog_id}", "items": [], "region": "us", "tags": []}}'
    return vm.Encoded(body=body.encode(), stamp=vm.Stamp(type=TYPE, version=3))


def _ids(event: dict[str, Any], *positions: int) -> list[dict[str, str]]:
    return [{"itemIdentifier": event["Records"][i]["messageId"]} for i in positions]


def _through_powertools(consumer: vm.Consumer, event: dict[str, Any], processor: Any) -> Any:
    return process_partial_response(
        event=event,
        record_handler=consumer.record_handler,
        processor=processor,
        context=LambdaContext(),
    )


def test_mixed_batch_gives_the_same_failures_both_ways() -> None:
    """handled, upgraded, a newer unreadable version, a failing handler and an unknown type:
    the same records are reported, in the same order, and each handler ran once."""
    event = sqs_event(
        _catalog("a"),
        registry.encode(CatalogV1(catalog_id="b", items=[])),
        _newer("c"),
        _catalog("boom"),
        vm.Encoded(body=b"{}", stamp=vm.Stamp(type="catalog.retired", version=1)),
        _catalog("d"),
    )
    ours, theirs = Seen(), Seen()
    expected = {"batchItemFailures": _ids(event, 2, 3, 4)}

    assert make_consumer(ours).handle_event(event, LambdaContext()) == expected
    processor = BatchProcessor(event_type=EventType.SQS)
    assert _through_powertools(make_consumer(theirs), event, processor) == expected
    assert ours.sorted() == theirs.sorted() == [("a", 1, 2), ("b", 0, 1), ("d", 1, 2)]
    # Powertools keeps each record's exception: ours, naming the record and its outcome
    messages = [str(exc_info[1]) for exc_info in processor.exceptions]
    assert len(messages) == 3
    for message, (i, outcome) in zip(
        messages, ((2, "retried"), (3, "failed"), (4, "rejected")), strict=True
    ):
        assert f"{event['Records'][i]['messageId']} {outcome} (" in message
        assert "boom" not in message  # a payload value never reaches an error message


def test_when_every_record_fails_powertools_raises_and_we_answer() -> None:
    """Both make Lambda retry the whole batch, by different means: Powertools raises
    BatchProcessingError (unless told not to), handle_event names every record."""
    event = sqs_event(_newer("x"), _catalog("boom"))
    every = {"batchItemFailures": _ids(event, 0, 1)}
    assert make_consumer(Seen()).handle_event(event, LambdaContext()) == every
    with pytest.raises(BatchProcessingError):
        _through_powertools(make_consumer(Seen()), event, BatchProcessor(EventType.SQS))
    quiet = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    assert _through_powertools(make_consumer(Seen()), event, quiet) == every


# ---- FIFO: order within a message group ----------------------------------------------------


@pytest.fixture
def fifo_event(aws: Emulator) -> dict[str, Any]:
    """What Lambda delivers from a FIFO queue holding group g1 = [ok, newer, ok] and then
    group g2 = [ok]."""
    url, arn = queue(
        aws, "catalogs.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )
    sqs = aws.client("sqs")
    for enc, group in (
        (_catalog("g1-first"), "g1"),
        (_newer("g1-newer"), "g1"),
        (_catalog("g1-after"), "g1"),
        (_catalog("g2-only"), "g2"),
    ):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=enc.body.decode(),
            MessageGroupId=group,
            MessageAttributes=enc.stamp.to_message_attributes(),
        )
    event = lambda_sqs_event(receive(sqs, url, 4), arn)
    ids = [json.loads(r["body"])["catalog_id"] for r in event["Records"]]
    assert ids == ["g1-first", "g1-newer", "g1-after", "g2-only"]
    return event


# --8<-- [start:fifo]
def test_batch_processor_runs_a_fifo_record_after_its_group_failed(
    fifo_event: dict[str, Any],
) -> None:
    """BatchProcessor(EventType.SQS) handles g1-after although g1-newer before it failed:
    g1-newer, redelivered later, then lands after the message that followed it."""
    seen = Seen()
    response = _through_powertools(make_consumer(seen), fifo_event, BatchProcessor(EventType.SQS))
    assert response == {"batchItemFailures": _ids(fifo_event, 1)}
    assert [h[0] for h in seen.handled] == ["g1-first", "g1-after", "g2-only"]


def test_fifo_group_order_is_kept_by_handle_event_and_by_the_skip_group_processor(
    fifo_event: dict[str, Any],
) -> None:
    """consumer.handle_event and SqsFifoPartialProcessor(skip_group_on_error=True) both stop
    g1 at its failure, report the rest of g1, and still handle g2."""
    ours, theirs = Seen(), Seen()
    expected = {"batchItemFailures": _ids(fifo_event, 1, 2)}
    assert make_consumer(ours).handle_event(fifo_event, LambdaContext()) == expected
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    assert _through_powertools(make_consumer(theirs), fifo_event, processor) == expected
    assert ours.handled == theirs.handled == [("g1-first", 1, 2), ("g2-only", 1, 2)]


# --8<-- [end:fifo]


def test_the_default_fifo_processor_gives_up_on_every_later_group(
    fifo_event: dict[str, Any],
) -> None:
    """Without skip_group_on_error, SqsFifoPartialProcessor keeps order by returning every
    record after the first failure, other groups' included."""
    seen = Seen()
    response = _through_powertools(make_consumer(seen), fifo_event, SqsFifoPartialProcessor())
    assert response == {"batchItemFailures": _ids(fifo_event, 1, 2, 3)}
    assert seen.handled == [("g1-first", 1, 2)]
