"""Shared pieces of the interop tests: one message type in two versions, a consumer that
records what it handled, and helpers around the moto server of the ``aws`` fixture.

The tools these tests run against are optional: a test module that needs one imports it
with :func:`import_tool`, which skips the module with the reason given when it is missing.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import boto3
import boto3.session
import msgspec
import pytest
from aws_support import make_queue, receive_exactly, subscribe_queue

import versioned_msgs as vm
from versioned_msgs.testing import Emulator

TYPE = "catalog.published"

registry = vm.Registry()


@registry.message(TYPE, version=1)
class CatalogV1(msgspec.Struct, frozen=True):
    catalog_id: str
    items: list[str]


@registry.message(TYPE, version=2)
class Catalog(msgspec.Struct, frozen=True):
    catalog_id: str
    items: list[str]
    region: str


@registry.upgrader(TYPE, from_version=1)
def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "region": "eu-west-1"}


def big_catalog(catalog_id: str, n: int = 1000) -> Catalog:
    """About 300 KB of JSON: over the SNS limit and the extended clients' 256 KiB threshold."""
    return Catalog(
        catalog_id=catalog_id, items=[f"{i:06d}-" + "x" * 290 for i in range(n)], region="us"
    )


class Seen:
    """What a consumer's handler was given: (catalog id, item count, version as written)."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, int, int]] = []

    def sorted(self) -> list[tuple[str, int, int]]:
        return sorted(self.handled)


def make_consumer(
    seen: Seen, *, s3: Any = None, bucket: str | None = None, **kwargs: Any
) -> vm.Consumer:
    """A consumer of ``catalog.published`` v2 (v1 upgraded); a catalog named ``boom`` makes
    the handler raise. ``bucket`` is the one bucket pointers may name."""
    consumer = vm.Consumer(registry, s3=s3, allowed_buckets=[bucket] if bucket else None, **kwargs)

    @consumer.handler(Catalog)
    def _catalog(catalog: Catalog, meta: vm.Meta) -> None:
        if catalog.catalog_id == "boom":
            raise RuntimeError("the handler failed")
        seen.handled.append((catalog.catalog_id, len(catalog.items), meta.version))

    return consumer


# ---- tools -------------------------------------------------------------------------------


def import_tool(name: str, reason: str) -> ModuleType:
    """``pytest.importorskip`` that leaves boto3 as it was.

    The extended clients replace ``boto3.Session`` (and the default session) with their
    own class when imported; every other test in the process must keep plain boto3, so the
    interop tests build the extended sessions explicitly and the global patch is undone.
    """
    session_class, default_session = boto3.session.Session, boto3.DEFAULT_SESSION
    try:
        module: ModuleType = pytest.importorskip(name, reason=reason)
    finally:
        setattr(boto3, "Session", session_class)  # noqa: B010 (mypy: no assigning to a type)
        setattr(boto3.session, "Session", session_class)  # noqa: B010
        boto3.DEFAULT_SESSION = default_session
    return module


def submodule(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


# ---- the moto server ---------------------------------------------------------------------


def queue(aws: Emulator, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
    """A new queue: (url, arn)."""
    return make_queue(aws.client("sqs"), name, **(attributes or {}))


def topic_to_queue(aws: Emulator, name: str, *, raw: bool) -> tuple[str, str, str]:
    """A topic with one SQS subscription, raw delivery on or off: (topic arn, url, arn)."""
    topic, _, url, arn = subscribe_queue(
        aws.client("sns"), aws.client("sqs"), name, f"{name}-queue", raw=raw
    )
    return topic, url, arn


receive = receive_exactly  # exactly ``count`` messages, with every attribute


def pointer_of(body: str) -> tuple[str, dict[str, str]] | None:
    """The (class, location) of an extended-client pointer body, or None for another body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, list) and len(doc) == 2 and isinstance(doc[1], dict):
        return str(doc[0]), dict(doc[1])
    return None


class LambdaContext:
    """The parts of Lambda's context object Powertools and the consumer read."""

    function_name = "interop"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:interop"
    aws_request_id = "6f2b6b0e-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/interop"
    log_stream_name = "2026/01/01/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
