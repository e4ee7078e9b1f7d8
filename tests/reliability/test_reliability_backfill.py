"""Backfills against concurrent writers: every change another tool makes while ``upgrade-s3``
runs either survives, or is reported, or falls in the one window the guide documents.

Another client changes an object's metadata (a ``CopyObject`` with ``REPLACE``: same body,
same ETag) or its tags at each step of the rewrite: after the read, after the re-check's
``HeadObject``, after the tag read, right before the ``PutObject``. The moments are made
exact with botocore event hooks on the backfill's own client; everything reaches moto. Then:

- versioned bucket: a change that did not survive is always reported (``written-over``);
- bucket without versioning: the changes that did not survive are exactly those landing in
  the documented window (a metadata change after the ``HeadObject``, a tag change after the
  tag read), and only those;
- nothing is reported for an object nobody touched.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from reliability_models import SOAK

from versioned_msgs import Stamp
from versioned_msgs._cli.demo_models import OrderCreatedV1, registry, registry_v1
from versioned_msgs._cli.upgrade_s3 import ObjectResult, upgrade_prefix
from versioned_msgs.testing import Emulator

# (event on the backfill's client, what it is in the guide's terms)
STEPS = (
    ("after-call.s3.GetObject", "after the read"),
    ("after-call.s3.HeadObject", "after the re-check"),
    ("after-call.s3.GetObjectTagging", "after the tag read"),
    ("before-call.s3.PutObject", "right before the write"),
)
KINDS = ("metadata", "tags")
# Where an unversioned bucket cannot tell: the guide's window.
WINDOW = {
    ("after the re-check", "metadata"),
    ("after the tag read", "metadata"),
    ("after the tag read", "tags"),
    ("right before the write", "metadata"),
    ("right before the write", "tags"),
}
ROUNDS = 5 if SOAK else 1


class Writer:
    """Another tool, changing the planned key's metadata or tags once, at its step."""

    def __init__(self, s3: Any, other: Any, bucket: str, plan: dict[str, tuple[str, str]]):
        self.other = other
        self.bucket = bucket
        self.plan = plan
        self.done: set[str] = set()
        s3.meta.events.register("provide-client-params.s3", self._remember_key)
        for event, step in STEPS:
            s3.meta.events.register(event, self._hook(step))

    @staticmethod
    def _remember_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["backfill_key"] = params.get("Key")

    def _hook(self, step: str) -> Any:
        def fire(context: dict[str, Any], **_: Any) -> None:
            key = context.get("backfill_key")
            if key in self.plan and self.plan[key][0] == step and key not in self.done:
                self.done.add(key)
                self.change(key, self.plan[key][1])

        return fire

    def change(self, key: str, kind: str) -> None:
        if kind == "tags":
            tags = [{"Key": "touched", "Value": key}]
            self.other.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": tags})
            return
        head = self.other.head_object(Bucket=self.bucket, Key=key)
        self.other.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key},
            MetadataDirective="REPLACE",
            Metadata={**head["Metadata"], "touched": key},
            ContentType=head["ContentType"],
        )

    def survived(self, key: str, kind: str) -> bool:
        if kind == "tags":
            tag_set = self.other.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
            return {"Key": "touched", "Value": key} in tag_set
        head = self.other.head_object(Bucket=self.bucket, Key=key)
        return head["Metadata"].get("touched") == key


def _fill(s3: Any, bucket: str, n: int) -> list[str]:
    keys = [f"o/{i:04d}" for i in range(n)]
    for i, key in enumerate(keys):
        enc = registry_v1.encode(OrderCreatedV1(order_id=key, total_cents=i))
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=enc.body,
            ContentType="application/json",
            Metadata={**enc.stamp.to_s3_metadata(), "owner": "shop"},
            Tagging="team=shop",
        )
    return keys


@pytest.mark.parametrize("versioning", [True, False], ids=["versioned", "unversioned"])
def test_concurrent_changes_during_a_backfill_survive_or_are_reported(
    aws: Emulator, versioning: bool
) -> None:
    s3, other = aws.client("s3"), aws.client("s3")
    bucket = "backfill-race"
    s3.create_bucket(Bucket=bucket)
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    combos = [(step, kind) for _, step in STEPS for kind in KINDS]
    keys = _fill(s3, bucket, ROUNDS * (len(combos) + 4))
    plan = dict(zip(keys, itertools.cycle([*combos, None, None, None, None]), strict=False))
    touched = {key: combo for key, combo in plan.items() if combo is not None}
    writer = Writer(s3, other, bucket, touched)

    summary = upgrade_prefix(s3, registry, bucket, "o/", concurrency=4, page_size=7)

    assert writer.done == set(touched)
    results: dict[str, ObjectResult] = {p.key: p for p in summary.problems}
    lost = {key for key, (_, kind) in touched.items() if not writer.survived(key, kind)}
    reported = set(results)
    assert {r.outcome for r in results.values()} <= {"conflict", "written-over"}
    assert reported <= set(touched), "an object nobody touched was reported"
    if versioning:
        assert lost <= {k for k, r in results.items() if r.outcome == "written-over"}
    else:
        assert {k for k in lost if k in reported} == set()
        assert lost == {key for key, combo in touched.items() if combo in WINDOW}
    for key in keys:  # every object ends upgraded, or left alone at v1 after a conflict
        obj = other.head_object(Bucket=bucket, Key=key)
        stamp = Stamp.from_s3_metadata(obj["Metadata"])
        assert stamp is not None
        assert obj["Metadata"]["owner"] == "shop"
        conflict = key in results and results[key].outcome == "conflict"
        assert stamp.version == (1 if conflict else 2), key
    kind = "versioned" if versioning else "unversioned"
    print(
        f"\nbackfill {kind}: {len(keys)} objects, {len(touched)} changed during the rewrite, "
        f"{len(touched) - len(lost)} survived, {len(lost)} replaced "
        f"({len(lost & reported)} reported, {len(lost - reported)} in the documented window), "
        f"{sum(r.outcome == 'conflict' for r in results.values())} conflicts left alone, "
        f"{sum(r.outcome == 'written-over' for r in results.values())} written-over"
    )
