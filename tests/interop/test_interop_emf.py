"""EMFMetrics against aws-embedded-metrics: for the same counts, our lines and the ones its
LogSerializer writes from a MetricsContext are the same JSON documents, field by field.

Their context is filled the way a hand-written aws-embedded-metrics integration would count
one (type, version): one dimension set (Type, Version and the extra dimensions), a
``Messages`` metric, then one ``Count`` metric per outcome, and ``FunctionName`` as a
property. The timestamp is fixed on both sides.
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timezone
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interop_support import Catalog, CatalogV1, Seen, make_consumer, registry, submodule

import versioned_msgs as vm
from versioned_msgs._aws.report import Outcome
from versioned_msgs.testing import sqs_event

emf = pytest.importorskip("aws_embedded_metrics", reason="aws-embedded-metrics is not installed")
MetricsContext = submodule(emf, "logger.metrics_context").MetricsContext
LogSerializer = submodule(emf, "serializers.log_serializer").LogSerializer
emf_config = submodule(emf, "config").get_config()

Counts = dict[tuple[str, int, str], int]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
NAMESPACE = "VersionedMsgs"


@pytest.fixture(autouse=True)
def _extraction_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Their serializer leaves out ``_aws`` when the environment turned extraction off."""
    monkeypatch.setattr(emf_config, "disable_metric_extraction", False)


def _now_ms() -> int:
    """A whole second near now: their validator refuses timestamps two weeks old."""
    return int(time.time()) * 1000


def their_lines(
    counts: Counts,
    timestamp_ms: int,
    *,
    namespace: str = NAMESPACE,
    dimensions: dict[str, str] | None = None,
    function_name: str | None = None,
) -> list[str]:
    """The documents aws-embedded-metrics writes for ``counts``, one per (type, version)."""
    groups: dict[tuple[str, int], dict[str, int]] = {}
    for (type_, version, outcome), n in counts.items():
        if n:
            group = groups.setdefault((type_, version), {})
            group[outcome] = group.get(outcome, 0) + n
    out: list[str] = []
    for (type_, version), outcomes in sorted(groups.items()):
        ctx = MetricsContext(namespace=namespace)
        ctx.set_dimensions([{"Type": type_, "Version": str(version), **(dimensions or {})}])
        ctx.put_metric("Messages", sum(outcomes.values()), "Count")
        for outcome in sorted(outcomes):
            ctx.put_metric(outcome, outcomes[outcome], "Count")
        if function_name:
            ctx.set_property("FunctionName", function_name)
        ctx.set_timestamp(datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc))
        (line,) = LogSerializer.serialize(ctx)
        out.append(line)
    return out


def _docs(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def _assert_same(ours: list[str], theirs: list[str]) -> None:
    """Same documents in the same order; each field compared on its own for a clear diff."""
    mine, other = _docs(ours), _docs(theirs)
    assert len(mine) == len(other)
    for a, b in zip(mine, other, strict=True):
        assert sorted(a) == sorted(b)
        for key in a:
            assert a[key] == b[key], key


MIXED: Counts = {
    ("order.created", 3, "handled"): 5,
    ("order.created", 3, "retried"): 1,
    ("order.created", 1, "upgraded"): 4,
    ("order.created", 1, "failed"): 2,
    ("order.cancelled", 2, "ignored"): 3,
    ("(none)", 0, "rejected"): 1,
    ("(unknown)", 0, "parked"): 7,
    ("order.created", 2, "handled"): 0,  # a zero count: no line on either side
}


def test_mixed_counts_match_their_serializer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several types and versions, the "(none)" and "(unknown)" buckets, outside Lambda."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    ts = _now_ms()
    ours = vm.EMFMetrics().lines(MIXED, timestamp_ms=ts)
    assert len(ours) == 5
    _assert_same(ours, their_lines(MIXED, ts))


def test_extra_dimensions_namespace_and_function_name_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Extra dimensions follow Type and Version in the dimension set; in Lambda the
    function name is a property (a field of the document, not a dimension)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer")
    dims = {"Service": "orders", "Stage": "prod"}
    ts = _now_ms()
    ours = vm.EMFMetrics(namespace="Shop/Orders", dimensions=dims).lines(MIXED, timestamp_ms=ts)
    theirs = their_lines(
        MIXED, ts, namespace="Shop/Orders", dimensions=dims, function_name="orders-consumer"
    )
    _assert_same(ours, theirs)
    first = _docs(ours)[0]
    assert first["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Type", "Version", "Service", "Stage"]
    ]
    assert first["FunctionName"] == "orders-consumer"


_types = st.sampled_from(["order.created", "order.cancelled", "(none)", "(unknown)", "a.b-c_d"])
_counts = st.dictionaries(
    st.tuples(_types, st.integers(0, 9), st.sampled_from(OUTCOMES)),
    st.integers(0, 10_000),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(counts=_counts)
def test_any_counts_match_their_serializer(counts: Counts) -> None:
    """Whatever the counts, the two serializers agree (outcome names are valid metric names
    for their validator too)."""
    ts = _now_ms()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        _assert_same(vm.EMFMetrics().lines(counts, timestamp_ms=ts), their_lines(counts, ts))


def test_a_consumers_emitted_lines_match_their_serializer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end: what a consumer's EMF sink printed for one invocation, against their
    serializer fed the invocation's counts (the timestamp taken from our line)."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    stream = io.StringIO()
    consumer = make_consumer(Seen(), metrics=vm.EMFMetrics(stream=stream))
    event = sqs_event(
        registry.encode(Catalog(catalog_id="a", items=[], region="us")),
        registry.encode(CatalogV1(catalog_id="b", items=["x"])),
        registry.encode(Catalog(catalog_id="boom", items=[], region="us")),
    )
    before = time.time() * 1000
    report = consumer.process(event)
    ours = stream.getvalue().splitlines()
    ts = _docs(ours)[0]["_aws"]["Timestamp"]
    assert before - 1000 <= ts <= time.time() * 1000 + 1000
    assert report.counts() == {
        ("catalog.published", 2, "handled"): 1,
        ("catalog.published", 1, "upgraded"): 1,
        ("catalog.published", 2, "failed"): 1,
    }
    _assert_same(ours, their_lines(report.counts(), ts))
