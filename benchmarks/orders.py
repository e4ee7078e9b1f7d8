"""The benchmark's data: an order message at four versions, its registries and Lambda events.

The order is ~1 KB of JSON. Its history gives the upgrade workloads real work to do:
v1 -> v2 renames ``customer`` to ``customer_id``; v2 -> v3 adds ``tags``; v3 -> v4 turns the
float ``total`` into integer ``total_cents``. Each version exists as a msgspec Struct and as a
pydantic model (pydantic is imported only when those are asked for). The upgraders exist in
the dict form and, for the Structs, in the typed form, with one downgrader (v4 -> v3) each.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timezone
from typing import Any

import msgspec

import versioned_msgs as vm
from versioned_msgs._core.attributes import attributes_digest

TYPE = "order.created"
CURRENT = 4
PRODUCER = "orders-api:42"


class Item(msgspec.Struct):
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


class Address(msgspec.Struct):
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str


class _Order(msgspec.Struct):
    """The fields every version shares."""

    order_id: str
    email: str
    created_at: datetime
    currency: str
    items: list[Item]
    shipping: Address
    notes: str


class OrderV1(_Order):
    customer: str
    total: float


class OrderV2(_Order):
    customer_id: str
    total: float


class OrderV3(OrderV2):
    tags: list[str]


class Order(_Order):
    """The current version (v4)."""

    customer_id: str
    total_cents: int
    tags: list[str]


MSGSPEC_MODELS: dict[int, type[Any]] = {1: OrderV1, 2: OrderV2, 3: OrderV3, 4: Order}


def _up_1(data: dict[str, Any]) -> dict[str, Any]:
    data["customer_id"] = data.pop("customer")
    return data


def _up_2(data: dict[str, Any]) -> dict[str, Any]:
    data["tags"] = []
    return data


def _up_3(data: dict[str, Any]) -> dict[str, Any]:
    data["total_cents"] = round(data.pop("total") * 100)
    return data


def _down_4(data: dict[str, Any]) -> dict[str, Any]:
    data["total"] = data.pop("total_cents") / 100
    return data


# The same steps in the typed form: each receives the older Struct and builds the next.


def _typed_up_1(old: OrderV1) -> OrderV2:
    return OrderV2(
        order_id=old.order_id,
        email=old.email,
        created_at=old.created_at,
        currency=old.currency,
        items=old.items,
        shipping=old.shipping,
        notes=old.notes,
        customer_id=old.customer,
        total=old.total,
    )


def _typed_up_2(old: OrderV2) -> OrderV3:
    return OrderV3(
        order_id=old.order_id,
        email=old.email,
        created_at=old.created_at,
        currency=old.currency,
        items=old.items,
        shipping=old.shipping,
        notes=old.notes,
        customer_id=old.customer_id,
        total=old.total,
        tags=[],
    )


def _typed_up_3(old: OrderV3) -> Order:
    return Order(
        order_id=old.order_id,
        email=old.email,
        created_at=old.created_at,
        currency=old.currency,
        items=old.items,
        shipping=old.shipping,
        notes=old.notes,
        customer_id=old.customer_id,
        total_cents=round(old.total * 100),
        tags=old.tags,
    )


def _typed_down_4(new: Order) -> OrderV3:
    return OrderV3(
        order_id=new.order_id,
        email=new.email,
        created_at=new.created_at,
        currency=new.currency,
        items=new.items,
        shipping=new.shipping,
        notes=new.notes,
        customer_id=new.customer_id,
        total=new.total_cents / 100,
        tags=new.tags,
    )


def pydantic_models() -> dict[int, type[Any]]:
    """The same four versions as pydantic models (imports pydantic)."""
    import pydantic

    class PItem(pydantic.BaseModel):
        sku: str
        name: str
        quantity: int
        unit_price_cents: int

    class PAddress(pydantic.BaseModel):
        name: str
        line1: str
        line2: str
        city: str
        region: str
        postal_code: str
        country: str

    class POrderBase(pydantic.BaseModel):
        order_id: str
        email: str
        created_at: datetime
        currency: str
        items: list[PItem]
        shipping: PAddress
        notes: str

    class POrderV1(POrderBase):
        customer: str
        total: float

    class POrderV2(POrderBase):
        customer_id: str
        total: float

    class POrderV3(POrderV2):
        tags: list[str]

    class POrder(POrderBase):
        customer_id: str
        total_cents: int
        tags: list[str]

    return {1: POrderV1, 2: POrderV2, 3: POrderV3, 4: POrder}


def make_registry(models: dict[int, type[Any]], *, typed: bool = False) -> vm.Registry:
    """A registry of the four order versions, the three upgraders between them and the
    downgrader from v4 to v3; ``typed``: the typed form of each (msgspec models only)."""
    registry = vm.Registry()
    for version, model in models.items():
        registry.message(TYPE, version=version)(model)
    if typed:
        registry.upgrader(TYPE, from_version=1)(_typed_up_1)
        registry.upgrader(TYPE, from_version=2)(_typed_up_2)
        registry.upgrader(TYPE, from_version=3)(_typed_up_3)
        registry.downgrader(TYPE, from_version=4)(_typed_down_4)
    else:
        registry.upgrader(TYPE, from_version=1)(_up_1)
        registry.upgrader(TYPE, from_version=2)(_up_2)
        registry.upgrader(TYPE, from_version=3)(_up_3)
        registry.downgrader(TYPE, from_version=4)(_down_4)
    registry.check()
    return registry


_WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
]


def order_payload(rng: random.Random, n: int, version: int) -> dict[str, Any]:
    """One order as a JSON-ready dict at ``version`` (about 1 KB once encoded)."""
    items = [
        {
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "name": " ".join(rng.choices(_WORDS, k=3)),
            "quantity": rng.randrange(1, 5),
            "unit_price_cents": rng.randrange(100, 20000),
        }
        for _ in range(5)
    ]
    cents = sum(i["quantity"] * i["unit_price_cents"] for i in items)
    created = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc).timestamp() + n
    data: dict[str, Any] = {
        "order_id": f"ord-{n:08d}-{rng.randrange(16**8):08x}",
        "customer_id": f"cus-{rng.randrange(10**7):07d}",
        "email": f"{rng.choice(_WORDS)}.{rng.choice(_WORDS)}{n}@example.com",
        "created_at": datetime.fromtimestamp(created, timezone.utc).isoformat(),
        "currency": "EUR",
        "items": items,
        "shipping": {
            "name": " ".join(rng.choices(_WORDS, k=2)).title(),
            "line1": f"{rng.randrange(1, 300)} {rng.choice(_WORDS).title()} Street",
            "line2": f"Floor {rng.randrange(1, 9)}, door {rng.randrange(1, 40)}",
            "city": rng.choice(_WORDS).title() + "ville",
            "region": "Noord-Holland",
            "postal_code": f"{rng.randrange(1000, 9999)} AB",
            "country": "NL",
        },
        "total_cents": cents,
        "notes": " ".join(rng.choices(_WORDS, k=24)),
        "tags": rng.sample(_WORDS, 3),
    }
    if version <= 3:
        data["total"] = data.pop("total_cents") / 100
    if version <= 2:
        del data["tags"]
    if version == 1:
        data["customer"] = data.pop("customer_id")
    return data


def lambda_attributes(attrs: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """boto3 ``MessageAttributes`` as Lambda's SQS event shows them."""
    return {
        name: {
            "stringValue": a["StringValue"],
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": a["DataType"],
        }
        for name, a in attrs.items()
    }


def sqs_record(
    n: int,
    body: bytes,
    attrs: dict[str, dict[str, str]],
    *,
    digest: bool = True,
    group: str | None = None,
) -> dict[str, Any]:
    """One record of a Lambda SQS event, shaped as Lambda delivers it (without
    ``md5OfMessageAttributes`` when ``digest`` is false, as in a hand-built event; a FIFO
    queue's record, with its sequence number, message group and deduplication id, when
    ``group`` is given)."""
    text = body.decode()
    rng = random.Random(n)
    lattrs = lambda_attributes(attrs)
    record: dict[str, Any] = {
        "messageId": f"{rng.getrandbits(32):08x}-87a3-44ab-83d2-{n:012d}",
        "receiptHandle": f"AQEB{rng.getrandbits(256):064x}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(1764244800000 + n),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(1764244800005 + n),
        },
        "messageAttributes": lattrs,
        "md5OfBody": hashlib.md5(body).hexdigest(),
        # What SQS computes (its published algorithm; tests check ours against moto's).
        "md5OfMessageAttributes": attributes_digest(lattrs),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders",
        "awsRegion": "eu-west-1",
    }
    if not digest:
        del record["md5OfMessageAttributes"]
    if group is not None:
        record["attributes"].update(
            {
                "SequenceNumber": str(18849496460467696128 + n),
                "MessageGroupId": group,
                "MessageDeduplicationId": hashlib.sha256(body).hexdigest(),
            }
        )
        record["eventSourceARN"] += ".fifo"
    return record


def sqs_event(
    registry: vm.Registry,
    count: int,
    versions: list[int],
    *,
    seed: int = 7,
    digests: bool = True,
    fifo_groups: int = 0,
    trace_ids: bool = False,
) -> dict[str, Any]:
    """A Lambda SQS event of ``count`` stamped orders, record i at ``versions[i % len]``.

    Bodies are encoded and stamped by ``registry`` (producer set, one user attribute), so the
    event is exactly what the library's own publisher would have delivered. ``digests=False``
    leaves out ``md5OfMessageAttributes``, as events built by hand usually do.
    ``fifo_groups``: a FIFO queue's event, record i in message group ``i % fifo_groups``.
    ``trace_ids``: every record also carries a String attribute of its own (``trace-id``,
    a different value per message, as a tracing header would be).
    """
    rng = random.Random(seed)
    records = []
    for n in range(count):
        version = versions[n % len(versions)]
        model = registry.model(TYPE, version)
        payload = order_payload(rng, n, version)
        if issubclass(model, msgspec.Struct):
            msg = msgspec.convert(payload, model)
        else:
            msg = model.model_validate(payload)
        enc = registry.encode(msg, producer=PRODUCER)
        attrs = enc.stamp.to_message_attributes()
        attrs["tenant"] = {"DataType": "String", "StringValue": "acme"}
        if trace_ids:
            trace = f"Root=1-{1764244800 + n:08x}-{rng.getrandbits(96):024x}"
            attrs["trace-id"] = {"DataType": "String", "StringValue": trace}
        group = f"customer-{n % fifo_groups}" if fifo_groups else None
        records.append(sqs_record(n, enc.body, attrs, digest=digests, group=group))
    # Through JSON, as Lambda's runtime hands it over: every record its own fresh objects.
    event: dict[str, Any] = json.loads(json.dumps({"Records": records}))
    return event


def event_size(event: dict[str, Any]) -> int:
    """The event's size as Lambda receives it: its JSON document in bytes."""
    return len(msgspec.json.encode(event))
