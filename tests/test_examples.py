"""Every file in examples/ runs here against the moto server.

moto cannot run Lambda, so each handler gets the event Lambda would build from what moto
delivered: we publish with the example producer (or a Publisher), receive what moto queued,
shape it as Lambda's event for that source, and call the example's ``lambda_handler``.
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_support import make_queue, receive_exactly

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_kinesis_event, lambda_sqs_event

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REGION = "us-east-1"


# The examples import each other the way files of one Lambda bundle do.
sys.path.insert(0, str(EXAMPLES))

# The user-style test files in examples/ (shown in the docs) run as part of this module:
# pytest collects the test functions copied into this namespace.
for _name in ("test_quickstart", "test_rollout"):
    _tests = vars(importlib.import_module(_name))
    globals().update({k: v for k, v in _tests.items() if k.startswith("test_")})


def _example(name: str) -> ModuleType:
    return importlib.import_module(name)


# ---- shaping what moto delivered into Lambda events ------------------------------------


def _queue(aws: Emulator, name: str) -> tuple[str, str]:
    return make_queue(aws.client("sqs"), name)


def _topic_to_queue(
    aws: Emulator, name: str, *, filter_policy: dict[str, Any] | None = None
) -> tuple[str, str, str, str]:
    """An SNS topic with an enveloped SQS subscription: (topic arn, sub arn, url, queue arn)."""
    sns = aws.client("sns")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, arn = _queue(aws, f"{name}-queue")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    if filter_policy is not None:
        sns.set_subscription_attributes(
            SubscriptionArn=sub,
            AttributeName="FilterPolicyScope",
            AttributeValue="MessageAttributes",
        )
        sns.set_subscription_attributes(
            SubscriptionArn=sub,
            AttributeName="FilterPolicy",
            AttributeValue=json.dumps(filter_policy),
        )
    return topic, sub, url, arn


def _sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS envelope (as SNS delivered it to SQS) -> the event SNS sends to Lambda."""
    sns = dict(envelope)
    # Lambda's SNS records spell these two keys differently from the HTTP/SQS envelope.
    sns["SigningCertUrl"] = sns.pop("SigningCertURL", "https://sns.example/cert.pem")
    sns["UnsubscribeUrl"] = sns.pop("UnsubscribeURL", "https://sns.example/unsubscribe")
    sns.setdefault("Subject", None)
    sns.setdefault("MessageAttributes", {})
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }


def _sns_sqs_handler(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, str]:
    """The SNS->SQS example handler with its park queue (named in its environment)."""
    park_url, _ = _queue(aws, "orders-park")
    monkeypatch.setenv("PARK_QUEUE_URL", park_url)
    handler = importlib.reload(_example("sns_sqs_handler"))
    return handler, park_url


def _logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


# ---- the README ------------------------------------------------------------------------


def test_readme_example_sends_v2_and_reads_v1(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `send` stamps v2; its handler reads that and a v1 message via the upgrader."""
    readme = _example("readme")
    url, arn = _queue(aws, "greetings")
    readme.send(url)
    aws.client("sqs").send_message(
        QueueUrl=url,
        MessageBody='{"text": "Hallo"}',
        MessageAttributes=vm.Stamp(type="greeting", version=1).to_message_attributes(),
    )
    messages = receive_exactly(aws.client("sqs"), url, 2)
    assert readme.lambda_handler(lambda_sqs_event(messages, arn), None) == {"batchItemFailures": []}
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "Hallo [en] written as v1",
        "Hi [en] written as v2",
    ]


# ---- the upgrader set ------------------------------------------------------------------


def test_orders_registry_upgrades_and_downgrades() -> None:
    """v1 and v2 payloads decode into the v3 model; v3 writes back down to v1 and v2."""
    orders = _example("orders")
    registry = orders.registry
    registry.check()
    assert registry.current("order.created") == 3
    v1 = registry.encode(orders.OrderCreatedV1(order_id="o-1", amount=1250))
    msg, meta = registry.decode(v1.body, v1.stamp)
    assert msg == orders.OrderCreated(order_id="o-1", total=orders.Money(1250, "EUR"))
    assert (meta.version, meta.upgraded_from) == (1, 1)
    current = orders.OrderCreated(order_id="o-2", total=orders.Money(990, "USD"))
    down = registry.encode(current, as_version=2)
    assert down.stamp.version == 2
    assert down.stamp.readable_by == 1
    assert json.loads(down.body) == {"order_id": "o-2", "amount": 990, "currency": "USD"}
    assert json.loads(registry.encode(current, as_version=1).body) == {
        "order_id": "o-2",
        "amount": 990,
    }


# ---- producer and consumers, source by source ----------------------------------------


def test_producer_publishes_a_stamped_order_that_the_sns_sqs_handler_reads(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """producer.py -> SNS -> SQS -> sns_sqs_handler.py, with the stamp and the tenant kept."""
    topic, _, url, arn = _topic_to_queue(aws, "orders")
    monkeypatch.setenv("ORDERS_TOPIC_ARN", topic)
    producer = _example("producer")
    out = producer.lambda_handler(
        {"order_id": "o-7", "cents": 4200, "currency": "EUR", "tenant": "acme"}, None
    )
    assert out["message_id"]
    aws.client("sns").publish(  # another team's type on the same topic
        TopicArn=topic,
        Message='{"invoice": 1}',
        MessageAttributes=vm.Stamp(type="invoice.paid", version=1).to_message_attributes(),
    )
    messages = receive_exactly(aws.client("sqs"), url, 2)
    (message,) = [m for m in messages if json.loads(m["Body"])["MessageId"] == out["message_id"]]
    attrs = json.loads(message["Body"])["MessageAttributes"]
    assert attrs["vmsg-type"] == {"Type": "String", "Value": "order.created"}
    assert attrs["vmsg-version"] == {"Type": "Number", "Value": "3"}
    assert attrs["tenant"] == {"Type": "String", "Value": "acme"}

    handler, park_url = _sns_sqs_handler(aws, monkeypatch)
    with caplog.at_level(logging.INFO, logger="sns_sqs_handler"):
        response = handler.lambda_handler(lambda_sqs_event(messages, arn), None)
    assert response == {"batchItemFailures": []}  # the invoice was parked, not retried
    assert _logged(caplog, "sns_sqs_handler") == ["order o-7 (v3, upgraded from None)"]
    (parked,) = receive_exactly(aws.client("sqs"), park_url, 1)
    reason = parked["MessageAttributes"]["vmsg-parked-reason"]["StringValue"]
    assert "invoice.paid" in reason


def test_pinned_producer_writes_v2_and_the_template_filter_lets_it_through(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With VERSIONED_MSGS_PINS the producer writes v2; the handler upgrades it to v3."""
    topic, _, url, arn = _topic_to_queue(aws, "orders", filter_policy=_template_filter_policy())
    monkeypatch.setenv("ORDERS_TOPIC_ARN", topic)
    monkeypatch.setenv("VERSIONED_MSGS_PINS", "order.created=2")
    producer = importlib.reload(_example("producer"))
    try:
        producer.lambda_handler(
            {"order_id": "o-8", "cents": 100, "currency": "USD", "tenant": "acme"}, None
        )
    finally:
        monkeypatch.delenv("VERSIONED_MSGS_PINS")
        importlib.reload(producer)
    (message,) = receive_exactly(aws.client("sqs"), url, 1)
    envelope = json.loads(message["Body"])
    assert envelope["MessageAttributes"]["vmsg-version"] == {"Type": "Number", "Value": "2"}
    assert json.loads(envelope["Message"]) == {"order_id": "o-8", "amount": 100, "currency": "USD"}
    handler, _ = _sns_sqs_handler(aws, monkeypatch)
    with caplog.at_level(logging.INFO, logger="sns_sqs_handler"):
        assert handler.lambda_handler(lambda_sqs_event([message], arn), None) == {
            "batchItemFailures": []
        }
    assert _logged(caplog, "sns_sqs_handler") == ["order o-8 (v2, upgraded from 2)"]


# --8<-- [start:filter]
def test_template_filter_policy_keeps_v1_out_of_the_queue(aws: Emulator) -> None:
    """SNS applies the template's vmsg-version filter: a v1 message never reaches the queue."""
    orders = _example("orders")
    topic, _, url, _ = _topic_to_queue(aws, "orders", filter_policy=_template_filter_policy())
    pub = vm.Publisher(orders.registry, sns=aws.client("sns"))
    pub.publish(topic, orders.OrderCreatedV1(order_id="old", amount=1))
    pub.publish(topic, orders.OrderCreated(order_id="new", total=orders.Money(1, "EUR")))
    (message,) = receive_exactly(aws.client("sqs"), url, 1)
    assert json.loads(json.loads(message["Body"])["Message"])["order_id"] == "new"


# --8<-- [end:filter]


# The recipes of docs/guides/filter-policies.md, with what each lets through.
FILTER_RECIPES = {
    '{"vmsg-type": ["order.created"]}': ["v1", "v2", "v3"],
    '{"vmsg-type": ["order.created"], "vmsg-version": [{"numeric": ["<=", 2]}]}': ["v1", "v2"],
    '{"vmsg-type": ["order.created"], "vmsg-version": [{"numeric": [">=", 3]}]}': ["v3"],
    '{"vmsg-type": ["order.created"], "vmsg-version": [{"numeric": ["<", 3]}]}': ["v1", "v2"],
    '{"vmsg-type": [{"prefix": "order."}]}': ["cancelled", "v1", "v2", "v3"],
    '{"vmsg-version": [{"exists": false}]}': ["unstamped"],
}


@pytest.mark.parametrize("policy", sorted(FILTER_RECIPES))
def test_filter_policy_recipes_deliver_what_the_guide_says(aws: Emulator, policy: str) -> None:
    """Each recipe in the filter-policies guide, applied by SNS, delivers the listed messages."""
    page = (ROOT / "docs" / "guides" / "filter-policies.md").read_text(encoding="utf-8")
    assert f"`{policy}`" in page
    orders = _example("orders")
    topic, _, url, _ = _topic_to_queue(aws, "orders", filter_policy=json.loads(policy))
    sns = aws.client("sns")
    pub = vm.Publisher(orders.registry, sns=sns)
    pub.publish(topic, orders.OrderCreatedV1(order_id="v1", amount=1))
    pub.publish(topic, orders.OrderCreatedV2(order_id="v2", amount=2))
    pub.publish(topic, orders.OrderCreated(order_id="v3", total=orders.Money(3, "EUR")))
    sns.publish(
        TopicArn=topic,
        Message='{"order_id": "cancelled"}',
        MessageAttributes=vm.Stamp(type="order.cancelled", version=1).to_message_attributes(),
    )
    sns.publish(TopicArn=topic, Message='{"order_id": "unstamped"}')
    expected = FILTER_RECIPES[policy]
    got = receive_exactly(aws.client("sqs"), url, len(expected))
    ids = sorted(json.loads(json.loads(m["Body"])["Message"])["order_id"] for m in got)
    assert ids == expected


# --8<-- [start:sqs]
def test_sqs_handler_upgrades_old_versions_and_retries_newer_ones(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """v1, v2 and v3 are handled as v3; a v4 this reader cannot read comes back as a failure."""
    orders = _example("orders")
    url, arn = _queue(aws, "orders")
    sqs = aws.client("sqs")
    pub = vm.Publisher(orders.registry, sqs=sqs)
    pub.send(url, orders.OrderCreatedV1(order_id="a", amount=100))
    pub.send(url, orders.OrderCreatedV2(order_id="b", amount=200, currency="USD"))
    pub.send(url, orders.OrderCreated(order_id="c", total=orders.Money(300, "GBP")))
    future = sqs.send_message(
        QueueUrl=url,
        MessageBody='{"order_id": "d", "lines": []}',
        MessageAttributes=vm.Stamp(type="order.created", version=4).to_message_attributes(),
    )
    messages = receive_exactly(aws.client("sqs"), url, 4)
    handler = _example("sqs_handler")
    with caplog.at_level(logging.INFO, logger="sqs_handler"):
        response = handler.lambda_handler(lambda_sqs_event(messages, arn), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": future["MessageId"]}]}
    assert sorted(_logged(caplog, "sqs_handler")) == [
        "order a: 100 EUR (written as v1)",
        "order b: 200 USD (written as v2)",
        "order c: 300 GBP (written as v3)",
    ]


# --8<-- [end:sqs]


def test_sns_handler_reads_the_tenant_attribute(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An SNS->Lambda event built from what SNS delivered: the user's attribute is in meta."""
    orders = _example("orders")
    topic, sub, url, _ = _topic_to_queue(aws, "orders")
    pub = vm.Publisher(orders.registry, sns=aws.client("sns"))
    pub.publish(
        topic, orders.OrderCreatedV1(order_id="s-1", amount=5), attributes={"tenant": "acme"}
    )
    (message,) = receive_exactly(aws.client("sqs"), url, 1)
    event = _sns_event(json.loads(message["Body"]), sub)
    handler = _example("sns_handler")
    with caplog.at_level(logging.INFO, logger="sns_handler"):
        handler.lambda_handler(event, None)
    assert _logged(caplog, "sns_handler") == ["order s-1 for tenant acme"]


def test_sns_handler_raises_for_an_unreadable_message(aws: Emulator) -> None:
    """SNS is asynchronous: a message the reader cannot read raises so Lambda retries it."""
    orders = _example("orders")
    topic, sub, url, _ = _topic_to_queue(aws, "orders")
    aws.client("sns").publish(
        TopicArn=topic,
        Message="{}",
        MessageAttributes=vm.Stamp(type="order.created", version=9).to_message_attributes(),
    )
    (message,) = receive_exactly(aws.client("sqs"), url, 1)
    handler = _example("sns_handler")
    assert orders.registry.current("order.created") == 3
    with pytest.raises(Exception, match=r"order\.created v9"):
        handler.lambda_handler(_sns_event(json.loads(message["Body"]), sub), None)


def test_s3_handler_reads_the_object_that_raised_the_event(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An S3 notification names the object; the consumer fetches it and reads its stamp."""
    orders = _example("orders")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="orders-archive")
    key = "2026/order 1.json"
    pub = vm.Publisher(orders.registry, s3=s3)
    put = pub.put_object("orders-archive", key, orders.OrderCreatedV2(order_id="x", amount=7))
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-27T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "orders",
                    "bucket": {
                        "name": "orders-archive",
                        "arn": "arn:aws:s3:::orders-archive",
                    },
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": 40,
                        "eTag": put["ETag"].strip('"'),
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }
    handler = _example("s3_handler")
    with caplog.at_level(logging.INFO, logger="s3_handler"):
        handler.lambda_handler(event, None)
    assert _logged(caplog, "s3_handler") == ["s3://orders-archive/2026/order 1.json holds order x"]


def test_kinesis_handler_reads_embedded_stamps(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Records put with the Publisher carry an embedded envelope; the handler reads them."""
    orders = _example("orders")
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    desc = kinesis.describe_stream(StreamName="orders")["StreamDescription"]
    pub = vm.Publisher(orders.registry, kinesis=kinesis)
    pub.put_record("orders", orders.OrderCreatedV1(order_id="k-1", amount=1), partition_key="k")
    pub.put_record(
        "orders",
        orders.OrderCreated(order_id="k-2", total=orders.Money(2, "EUR")),
        partition_key="k",
    )
    shard = desc["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    event = lambda_kinesis_event(records, desc["StreamARN"], shard_id=shard)
    handler = _example("kinesis_handler")
    with caplog.at_level(logging.INFO, logger="kinesis_handler"):
        assert handler.lambda_handler(event, None) == {"batchItemFailures": []}
    assert _logged(caplog, "kinesis_handler") == ["order k-1 (v1)", "order k-2 (v3)"]


def test_eventbridge_handler_reads_events_a_rule_delivered(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """put_events -> a rule on detail-type -> SQS: the queued event is what Lambda gets."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-api")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "42")
    orders = _example("orders")
    events = aws.client("events")
    url, arn = _queue(aws, "order-events")
    events.put_rule(Name="orders", EventPattern=json.dumps({"detail-type": ["order.created"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
    pub = vm.Publisher(orders.registry, events=events)
    result = pub.put_events(
        [orders.OrderCreatedV2(order_id="e-1", amount=3)], source="com.example.orders"
    )
    assert result.failed == []
    (message,) = receive_exactly(aws.client("sqs"), url, 1)
    handler = _example("eventbridge_handler")
    with caplog.at_level(logging.INFO, logger="eventbridge_handler"):
        handler.lambda_handler(json.loads(message["Body"]), None)
    assert _logged(caplog, "eventbridge_handler") == ["order e-1 from orders-api:42"]


# ---- ordering, legacy producers, large payloads ----------------------------------------


# --8<-- [start:fifo]
def test_fifo_group_stops_at_the_first_failure(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """In a FIFO group, the records after an unreadable one are reported too, in order."""
    orders = _example("orders")
    sqs = aws.client("sqs")
    url = sqs.create_queue(
        QueueName="orders.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pub = vm.Publisher(orders.registry, sqs=sqs)
    first = pub.send(url, orders.OrderCreatedV1(order_id="f-1", amount=1), group_id="cust-1")
    newer = sqs.send_message(  # a v4 written by a producer deployed too early
        QueueUrl=url,
        MessageBody='{"order_id": "f-2"}',
        MessageGroupId="cust-1",
        MessageAttributes=vm.Stamp(type="order.created", version=4).to_message_attributes(),
    )["MessageId"]
    after = pub.send(url, orders.OrderCreatedV1(order_id="f-3", amount=3), group_id="cust-1")
    other = pub.send(url, orders.OrderCreatedV1(order_id="f-4", amount=4), group_id="cust-2")
    messages = receive_exactly(aws.client("sqs"), url, 4)
    with caplog.at_level(logging.INFO, logger="sqs_handler"):
        report = _example("sqs_handler").consumer.process(lambda_sqs_event(messages, arn), None)
    outcomes = {r.message_id: r.outcome for r in report.records}
    assert outcomes[first] == "upgraded"
    assert outcomes[newer] == "retried"
    assert outcomes[after] == "retried"  # not run: it must not overtake f-2
    assert outcomes[other] == "upgraded"  # another group is not held back
    handled = sorted(line.split(":")[0] for line in _logged(caplog, "sqs_handler"))
    assert handled == ["order f-1", "order f-4"]
    failed = [f["itemIdentifier"] for f in report.response["batchItemFailures"]]
    assert failed == [newer, after]


# --8<-- [end:fifo]


def test_legacy_handler_reads_unstamped_bodies_as_v1(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An old producer's plain body and a hand-stamped message are both handled."""
    orders = _example("orders")
    url, arn = _queue(aws, "orders")
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody='{"order_id": "L-1", "amount": 250}')
    stamp_by_hand = _example("stamp_by_hand")
    stamp_by_hand.send_order(
        sqs, url, orders.OrderCreatedV1(order_id="L-2", amount=300), tenant="acme"
    )
    messages = receive_exactly(aws.client("sqs"), url, 2)
    stamped = [m for m in messages if "MessageAttributes" in m]
    assert stamped[0]["MessageAttributes"]["vmsg-version"]["StringValue"] == "1"
    assert stamped[0]["MessageAttributes"]["tenant"]["StringValue"] == "acme"
    handler = _example("legacy_handler")
    with caplog.at_level(logging.INFO, logger="legacy_handler"):
        response = handler.lambda_handler(lambda_sqs_event(messages, arn), None)
    assert response == {"batchItemFailures": []}
    assert sorted(_logged(caplog, "legacy_handler")) == ["order L-1 (v1)", "order L-2 (v1)"]


def test_large_payloads_travel_through_s3_and_come_back(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 300 KiB catalog is over the SNS limit: it goes to S3 and the consumer fetches it."""
    aws.client("s3").create_bucket(Bucket="large-payloads")
    monkeypatch.setenv("LARGE_PAYLOAD_BUCKET", "large-payloads")
    example = importlib.reload(_example("large_payloads"))
    topic, _, url, arn = _topic_to_queue(aws, "catalogs")
    items = [f"item-{i:06d}-" + "x" * 280 for i in range(1000)]
    example.publish(topic, example.CatalogPublished(catalog_id="c-1", items=items))
    example.publish(topic, example.CatalogPublished(catalog_id="c-2", items=["small"]))
    messages = receive_exactly(aws.client("sqs"), url, 2)
    bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    pointers = [b for b in bodies if isinstance(b, list)]
    assert [p[0] for p in pointers] == ["software.amazon.payloadoffloading.PayloadS3Pointer"]
    assert pointers[0][1]["s3BucketName"] == "large-payloads"
    with caplog.at_level(logging.INFO, logger="large_payloads"):
        response = example.lambda_handler(lambda_sqs_event(messages, arn), None)
    assert response == {"batchItemFailures": []}
    assert sorted(_logged(caplog, "large_payloads")) == [
        "catalog c-1 with 1000 items",
        "catalog c-2 with 1 items",
    ]


# ---- locking schemas -------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "versioned_msgs", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_orders_lock_file_matches_the_models() -> None:
    """examples/orders.lock.json is current: `check --lock` passes from the examples folder."""
    proc = _cli("check", "orders:registry", "--lock", "orders.lock.json", cwd=EXAMPLES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches orders.lock.json" in proc.stdout


def test_a_model_changed_without_a_new_version_fails_the_lock(tmp_path: Path) -> None:
    """Adding a field to v2 in place (no v4) makes `check --lock` exit 1 and name v2."""
    source = (EXAMPLES / "orders.py").read_text(encoding="utf-8")
    changed = source.replace(
        '    currency: str = "EUR"\n', '    currency: str = "EUR"\n    note: str = ""\n'
    )
    assert changed != source
    (tmp_path / "orders.py").write_text(changed, encoding="utf-8")
    (tmp_path / "orders.lock.json").write_bytes((EXAMPLES / "orders.lock.json").read_bytes())
    proc = _cli("check", "orders:registry", "--lock", "orders.lock.json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "order.created v2" in proc.stdout


# ---- the SAM template ------------------------------------------------------------------


def _template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, problems = decode_str((EXAMPLES / "template.yaml").read_text(encoding="utf-8"))
    assert problems == []
    return dict(template)


def _template_filter_policy() -> dict[str, Any]:
    resources = _template()["Resources"]
    return dict(resources["OrdersSubscription"]["Properties"]["FilterPolicy"])


def test_template_wires_partial_failures_dlq_and_version_filter() -> None:
    """The pieces the guides promise are in the template, with the handler file it names."""
    resources = _template()["Resources"]
    fn = resources["OrdersFunction"]["Properties"]
    assert fn["Handler"] == "sns_sqs_handler.lambda_handler"
    assert (EXAMPLES / "sns_sqs_handler.py").is_file()
    sqs_event = fn["Events"]["Orders"]["Properties"]
    assert sqs_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    redrive = resources["OrdersQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["OrdersDeadLetterQueue", "Arn"]}
    assert _template_filter_policy()["vmsg-version"] == [{"numeric": [">=", 2]}]
    sub = resources["OrdersSubscription"]["Properties"]
    assert sub["FilterPolicyScope"] == "MessageAttributes"
    assert resources["ProducerFunction"]["Properties"]["Handler"] == "producer.lambda_handler"


# ---- Powertools interop ------------------------------------------------------------------


# --8<-- [start:powertools]
class _LambdaContext:
    """The attributes Powertools' Logger and Idempotency read from a Lambda context."""

    function_name = "orders"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/orders"
    log_stream_name = "2026/11/27/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_powertools_batch_charges_each_order_once_and_reports_unreadable_ones(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BatchProcessor + the consumer: a duplicate is charged once, a v4 message is retried."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    orders = _example("orders")
    url, arn = _queue(aws, "orders")
    sqs = aws.client("sqs")
    pub = vm.Publisher(orders.registry, sqs=sqs)
    pub.send(url, orders.OrderCreatedV1(order_id="p-1", amount=100))
    pub.send(url, orders.OrderCreated(order_id="p-1", total=orders.Money(100, "EUR")))
    pub.send(url, orders.OrderCreatedV2(order_id="p-2", amount=200, currency="USD"))
    future = sqs.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes=vm.Stamp(type="order.created", version=4).to_message_attributes(),
    )
    messages = sorted(
        receive_exactly(aws.client("sqs"), url, 4),
        key=lambda m: m["MessageId"] == future["MessageId"],
    )
    module = _example("powertools_batch")
    charged: list[str] = []
    monkeypatch.setattr(module.logger, "info", lambda msg, **kw: charged.append(msg))
    response = module.lambda_handler(lambda_sqs_event(messages, arn), _LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": future["MessageId"]}]}
    # consumer.record_handler raised for the v4 message alone, naming it
    [(_, error, _)] = module.processor.exceptions
    assert isinstance(error, vm.RecordsFailedError)
    assert f"{future['MessageId']} retried" in str(error)
    assert charged == ["charging", "charging"]  # p-1 once (the copy is idempotent), p-2 once
    items = dynamodb.scan(TableName="idempotency")["Items"]
    assert len(items) == 2
    assert {i["status"]["S"] for i in items} == {"COMPLETED"}


# --8<-- [end:powertools]
