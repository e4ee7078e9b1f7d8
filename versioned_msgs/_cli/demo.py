"""``versioned-msgs demo``: a mixed-version rollout played on real (emulated) AWS services.

A shop publishes ``order.created`` and ``customer.updated`` to an SNS topic; a billing
service consumes them from an SQS queue subscribed to it, and the shop archives every order
in S3. Over six phases the shop and billing move from v1 to v2 without deploying together:

1. everyone on v1;
2. the new billing consumer is deployed while the shop still writes v1 (it upgrades);
3. the new shop is deployed pinned to v1 (safe while old consumers run);
4. the ``order.created`` pin is dropped (v2 is readable by v1) and an unpinned canary writes
   ``customer.updated`` v2 while an old consumer still runs: it tolerates the order and
   retries the customer, which the new consumer handles once the visibility timeout passes;
5. the old consumer is retired and the pins are flipped: everyone writes v2;
6. the S3 archive is backfilled with ``upgrade-s3`` (conditional writes).

Every count printed comes from what the consumers and AWS reported. The run ends with
``sent N, handled N, lost 0``: lost = sent - handled exactly once - parked/dead-lettered.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from typing import Any

from .._aws.consumer import Consumer, Report
from .._aws.publisher import Publisher
from .._core.meta import Meta
from .._core.stamp import Stamp
from .console import table
from .demo_models import (
    CustomerUpdated,
    CustomerUpdatedV1,
    OrderCreated,
    OrderCreatedV1,
    registry,
    registry_v1,
)
from .upgrade_s3 import upgrade_prefix
from .worker import Worker

__all__ = ["run"]

VISIBILITY_TIMEOUT = 1  # seconds: retried messages come back quickly in the demo
MAX_RECEIVES = 5  # then the queue's redrive policy dead-letters a message
PHASE_DEADLINE = 30.0  # seconds a phase may take to drain


class _Out:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)


class _Service:
    """One deployment of the billing consumer: a Consumer fed by a Worker, as on Lambda."""

    def __init__(self, name: str, consumer: Consumer, sqs: Any, queue_url: str) -> None:
        self.name = name
        self.reports: list[Report] = []

        def lambda_handler(event: dict[str, Any], context: Any) -> Any:
            report = consumer.process(event, context)
            self.reports.append(report)
            return report.response

        self.worker = Worker(
            sqs, queue_url, lambda_handler, batch_size=4, wait_seconds=0, function_name=name
        )

    def records(self) -> int:
        """Records processed so far (a retried message counts each time it is received)."""
        return sum(len(r.records) for r in self.reports)

    def counts(self) -> Counter[tuple[str, str, int, str]]:
        out: Counter[tuple[str, str, int, str]] = Counter()
        for report in self.reports:
            for (t, v, outcome), n in report.counts().items():
                out[(self.name, t, v, outcome)] += n
        return out


class _Ledger:
    """Which payloads the handlers really processed, and how often."""

    def __init__(self) -> None:
        self.handled: Counter[str] = Counter()
        self.sent: dict[str, tuple[str, int]] = {}

    def handler(self, model_id: str) -> Any:
        def handle(msg: Any, meta: Meta) -> None:
            self.handled[getattr(msg, model_id)] += 1

        return handle


def _consumer(
    reg: Any,
    models: tuple[type[Any], type[Any]],
    ledger: _Ledger,
    sqs: Any,
    s3: Any,
    park_url: str,
) -> Consumer:
    consumer = Consumer(
        reg,
        on_newer="retry",
        on_unknown="park",
        on_unversioned="park",
        sqs=sqs,
        s3=s3,
        park_queue_url=park_url,
    )
    consumer.handler(models[0])(ledger.handler("order_id"))
    consumer.handler(models[1])(ledger.handler("customer_id"))
    return consumer


class _Demo:
    def __init__(self, clients: dict[str, Any], out: _Out) -> None:
        self.sns = clients["sns"]
        self.sqs = clients["sqs"]
        self.s3 = clients["s3"]
        self.out = out
        self.run_id = uuid.uuid4().hex[:8]
        self.ledger = _Ledger()
        self.n = 0

    # ---- setup / teardown ---------------------------------------------------------------

    def create(self) -> None:
        name = f"vmsg-demo-{self.run_id}"
        self.topic_arn = self.sns.create_topic(Name=f"{name}-shop-events")["TopicArn"]
        self.dlq_url = self.sqs.create_queue(QueueName=f"{name}-billing-dlq")["QueueUrl"]
        self.park_url = self.sqs.create_queue(QueueName=f"{name}-billing-parked")["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName=f"{name}-billing",
            Attributes={
                "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
                ),
            },
        )["QueueUrl"]
        queue_arn = self._arn(self.queue_url)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
        )
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.bucket = name
        region = self.s3.meta.region_name
        if region and region != "us-east-1":
            self.s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        else:
            self.s3.create_bucket(Bucket=self.bucket)
        self.out(
            f"created topic {self.topic_arn.rsplit(':', 1)[1]}, queue {name}-billing "
            f"(+ park queue and DLQ), bucket {self.bucket}"
        )

    def _arn(self, queue_url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def delete(self) -> None:
        """Remove what :meth:`create` made (best effort: the demo's result is already known)."""
        for url in (self.queue_url, self.park_url, self.dlq_url):
            self._quietly(self.sqs.delete_queue, QueueUrl=url)
        self._quietly(self.sns.delete_topic, TopicArn=self.topic_arn)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._quietly(self.s3.delete_objects, Bucket=self.bucket, Delete={"Objects": keys})
        self._quietly(self.s3.delete_bucket, Bucket=self.bucket)

    @staticmethod
    def _quietly(fn: Any, **kwargs: Any) -> None:
        try:
            fn(**kwargs)
        except Exception as exc:  # cleanup must not hide the demo's result
            print(f"cleanup: {fn.__name__} failed: {exc}")

    # ---- producing ----------------------------------------------------------------------

    def publish(
        self, pub: Publisher, orders: int, customers: int, *, v1_models: bool = False
    ) -> Counter[tuple[str, int]]:
        """Publish and archive messages; returns what was written per (type, version)."""
        written: Counter[tuple[str, int]] = Counter()
        # Interleaved, as a shop's traffic would be.
        for i in range(max(orders, customers)):
            if i < orders:
                written[self._order(pub, v1_models)] += 1
            if i < customers:
                written[self._customer(pub, v1_models)] += 1
        return written

    def _order(self, pub: Publisher, v1_models: bool) -> tuple[str, int]:
        self.n += 1
        oid = f"o-{self.n:03d}"
        order: Any = (
            OrderCreatedV1(order_id=oid, total_cents=100 * self.n)
            if v1_models
            else OrderCreated(order_id=oid, total_cents=100 * self.n, currency="EUR")
        )
        stamp = pub.encode(order).stamp
        pub.publish(self.topic_arn, order)
        pub.put_object(self.bucket, f"orders/{oid}.json", order)
        self.ledger.sent[oid] = (stamp.type, stamp.version)
        return stamp.type, stamp.version

    def _customer(self, pub: Publisher, v1_models: bool) -> tuple[str, int]:
        self.n += 1
        cid = f"c-{self.n:03d}"
        customer: Any = (
            CustomerUpdatedV1(customer_id=cid, name="Ada Lovelace")
            if v1_models
            else CustomerUpdated(customer_id=cid, first_name="Ada", last_name="Lovelace")
        )
        stamp = pub.encode(customer).stamp
        pub.publish(self.topic_arn, customer)
        self.ledger.sent[cid] = (stamp.type, stamp.version)
        return stamp.type, stamp.version

    # ---- consuming ----------------------------------------------------------------------

    def _depth(self) -> tuple[int, int]:
        a = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(
            a["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(
        self, services: list[_Service], expected: int, *, wait_for_retries: bool = True
    ) -> bool:
        """Let the services poll in turn until they have seen ``expected`` new records and the
        queue is empty; False on timeout.

        Counting records as well as looking at the queue matters on real AWS, where SNS
        delivers to SQS asynchronously. Without ``wait_for_retries`` it stops once nothing
        is visible (retried messages are still in flight, waiting for their visibility
        timeout).
        """
        start = sum(s.records() for s in services)
        deadline = time.monotonic() + PHASE_DEADLINE
        while time.monotonic() < deadline:
            got = sum(s.worker.poll_once(wait_seconds=0) for s in services)
            if got:
                continue
            seen = sum(s.records() for s in services) - start
            visible, in_flight = self._depth()
            if seen >= expected and visible == 0 and (in_flight == 0 or not wait_for_retries):
                return True
            time.sleep(0.2)
        return False

    # ---- reporting ----------------------------------------------------------------------

    def phase(
        self,
        number: int,
        title: str,
        note: str,
        written: Counter[tuple[str, int]],
        services: list[_Service],
        before: dict[str, Counter[tuple[str, str, int, str]]],
    ) -> None:
        self.out()
        self.out(f"Phase {number}: {title}")
        self.out(f"  {note}")
        sent = ", ".join(f"{t} v{v} x{n}" for (t, v), n in sorted(written.items()))
        self.out(f"  sent: {sent}")
        rows = []
        for s in services:
            now = s.counts()
            for key in sorted(now):
                n = now[key] - before.get(s.name, Counter())[key]
                if n:
                    name, t, v, outcome = key
                    rows.append((name, t, v, outcome, n))
        for line in table(("consumer", "type", "version", "outcome", "records"), rows).split("\n"):
            self.out(f"  {line}")

    @staticmethod
    def snapshot(services: list[_Service]) -> dict[str, Counter[tuple[str, str, int, str]]]:
        return {s.name: s.counts() for s in services}

    def leftovers(self, queue_url: str) -> list[str]:
        """Receive everything left in a queue: the parked or dead-lettered messages' reasons."""
        reasons: list[str] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return reasons
            for m in got:
                attrs = m.get("MessageAttributes") or {}
                reason = attrs.get("vmsg-parked-reason", {}).get("StringValue")
                reasons.append(reason or "dead-lettered after too many receives")


def _clients(endpoint_url: str | None, region: str, fake_credentials: bool) -> dict[str, Any]:
    import boto3

    fake = "testing" if fake_credentials else None
    session = boto3.session.Session(
        region_name=region,
        aws_access_key_id=fake,
        aws_secret_access_key=fake,
        aws_session_token=fake,
    )
    return {
        "sns": session.client("sns", endpoint_url=endpoint_url),
        "sqs": session.client("sqs", endpoint_url=endpoint_url),
        "s3": session.client("s3", endpoint_url=endpoint_url),
    }


def _has_credentials(region: str) -> bool:
    import boto3

    return boto3.session.Session(region_name=region).get_credentials() is not None


def run(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    quiet: bool = False,
    real_aws: bool = False,
    keep: bool = False,
) -> int:
    """Play the rollout; returns 0 when nothing was lost, else 1."""
    out = _Out(quiet)
    emulator = None
    region = region or "us-east-1"
    if endpoint_url is None and not real_aws:
        from ..testing._emulator import Emulator

        # The emulator's HTTP server logs every request; the demo's story is its own output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        emulator = Emulator(region=region).start()
        endpoint_url = emulator.endpoint_url
        out(f"versioned-msgs demo: a mixed-version rollout on an AWS emulator at {endpoint_url}")
    else:
        where = endpoint_url or f"AWS ({region})"
        out(f"versioned-msgs demo: a mixed-version rollout on {where}")
    try:
        fake = emulator is not None or (endpoint_url is not None and not _has_credentials(region))
        demo = _Demo(_clients(endpoint_url, region, fake), out)
        demo.create()
        try:
            code = _play(demo, out)
        finally:
            if not keep:
                demo.delete()
    finally:
        if emulator is not None:
            emulator.stop()
    return code


def _play(demo: _Demo, out: _Out) -> int:
    sqs, s3, ledger = demo.sqs, demo.s3, demo.ledger
    old_billing = _Service(
        "billing v1",
        _consumer(registry_v1, (OrderCreatedV1, CustomerUpdatedV1), ledger, sqs, s3, demo.park_url),
        sqs,
        demo.queue_url,
    )
    new_billing = _Service(
        "billing v2",
        _consumer(registry, (OrderCreated, CustomerUpdated), ledger, sqs, s3, demo.park_url),
        sqs,
        demo.queue_url,
    )
    both = [old_billing, new_billing]
    old_shop = Publisher(registry_v1, sns=demo.sns, s3=s3, producer="shop:1")
    pins = {"order.created": 1, "customer.updated": 1}
    pinned_shop = Publisher(registry, sns=demo.sns, s3=s3, producer="shop:2", pins=pins)
    drained = True

    before = demo.snapshot(both)
    written = demo.publish(old_shop, 4, 2, v1_models=True)
    drained &= demo.drain([old_billing], written.total())
    demo.phase(1, "everyone on v1", "old shop, old billing consumer", written, both, before)

    before = demo.snapshot(both)
    written = demo.publish(old_shop, 4, 2, v1_models=True)
    drained &= demo.drain([new_billing], written.total())
    demo.phase(
        2,
        "new consumer deployed; the shop still writes v1",
        "the new consumer upgrades v1 payloads to its v2 models",
        written,
        both,
        before,
    )

    before = demo.snapshot(both)
    written = demo.publish(pinned_shop, 4, 4)
    drained &= demo.drain([old_billing, new_billing], written.total())
    demo.phase(
        3,
        "new shop deployed, pinned to v1; old and new consumers side by side",
        "pins order.created=1, customer.updated=1: v2 models are written as v1 (downgraded)",
        written,
        both,
        before,
    )

    before = demo.snapshot(both)
    order_unpinned = Publisher(
        registry, sns=demo.sns, s3=s3, producer="shop:2", pins={"customer.updated": 1}
    )
    canary = Publisher(registry, sns=demo.sns, s3=s3, producer="shop:3-canary", pins={})
    written = demo.publish(order_unpinned, 4, 0)
    written += demo.publish(canary, 0, 2)
    drained &= demo.drain([old_billing], written.total(), wait_for_retries=False)
    retried = sum(n for (_, _, _, o), n in old_billing.counts().items() if o == "retried")
    retried -= sum(n for (_, _, _, o), n in before["billing v1"].items() if o == "retried")
    drained &= demo.drain([new_billing], retried)
    demo.phase(
        4,
        "v2 appears while an old consumer still runs",
        "order.created v2 is readable by v1 (tolerated); customer.updated v2 from an unpinned "
        "canary is not (retried, then handled by the new consumer)",
        written,
        both,
        before,
    )

    before = demo.snapshot(both)
    flipped = Publisher(registry, sns=demo.sns, s3=s3, producer="shop:3", pins={})
    written = demo.publish(flipped, 4, 2)
    drained &= demo.drain([new_billing], written.total())
    demo.phase(
        5,
        "old consumer retired; pins flipped",
        "everyone writes and reads v2",
        written,
        both,
        before,
    )

    out()
    out("Phase 6: old S3 objects backfilled")
    out("  upgrade-s3 rewrites v1 archive objects as v2 (conditional on their ETag)")
    archive_before = _archive_versions(s3, demo.bucket)
    summary = upgrade_prefix(s3, registry, demo.bucket, "orders/", concurrency=4)
    archive_after = _archive_versions(s3, demo.bucket)
    rows = [
        (f"order.created v{v}", archive_before.get(v, 0), archive_after.get(v, 0))
        for v in sorted(set(archive_before) | set(archive_after))
    ]
    for line in table(("objects", "before", "after"), rows).split("\n"):
        out(f"  {line}")
    upgraded = sum(n for k, n in summary.counts.items() if k[3] == "upgraded")
    out(f"  upgraded {upgraded} of {summary.total} objects, {len(summary.problems)} left undone")

    parked = demo.leftovers(demo.park_url)
    dead = demo.leftovers(demo.dlq_url)
    sent = len(ledger.sent)
    once = sum(1 for k in ledger.sent if ledger.handled[k] == 1)
    handled = sum(1 for k in ledger.sent if ledger.handled[k] >= 1)
    duplicates = sum(1 for k in ledger.sent if ledger.handled[k] > 1)
    lost = sent - once - len(parked) - len(dead)
    out()
    for reason, n in Counter(parked + dead).most_common():
        out(f"  set aside with a reason ({n}): {reason}")
    if duplicates:
        out(f"  handled more than once: {duplicates}")
    if not drained:
        out("  a phase did not drain within its deadline")
    objects_ok = summary.complete and set(archive_after) == {registry.current("order.created")}
    if not objects_ok:
        out("  the archive was not fully upgraded")
    extra = f", parked {len(parked) + len(dead)}" if parked or dead else ""
    print(f"sent {sent}, handled {handled}{extra}, lost {lost}")
    return 0 if lost == 0 and duplicates == 0 and drained and objects_ok else 1


def _archive_versions(s3: Any, bucket: str) -> Counter[int]:
    versions: Counter[int] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="orders/"):
        for o in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=o["Key"])
            stamp = Stamp.from_s3_metadata(head["Metadata"], content_type=head["ContentType"])
            versions[0 if stamp is None else stamp.version] += 1
    return versions
