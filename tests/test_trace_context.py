"""Trace headers, parsed strictly and never raising: W3C traceparent/tracestate, X-Ray's
AWSTraceHeader, and ``Meta.trace_context`` reading them from each carrier. No
OpenTelemetry here: these are the pure parts (``_core/trace.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import versioned_msgs as vm
from versioned_msgs._core.envelope import embed, unembed, unembed_traced
from versioned_msgs._core.trace import (
    parse_tracestate,
    trace_from_attributes,
    trace_from_envelope,
    trace_from_metadata,
    trace_from_record,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_CONTEXT = vm.TraceContext("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", 1)


# ---- traceparent ------------------------------------------------------------------------


def test_a_traceparent_reads_into_a_trace_context_and_back() -> None:
    tc = vm.TraceContext.from_headers(PARENT, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    assert tc == vm.TraceContext(TRACE, SPAN, 1, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    assert tc is not None
    assert tc.sampled
    assert tc.traceparent == PARENT
    assert tc.headers() == {
        "traceparent": PARENT,
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    }
    assert tc.message_attributes()["traceparent"] == {"DataType": "String", "StringValue": PARENT}
    unsampled = vm.TraceContext.from_headers(f"00-{TRACE}-{SPAN}-00")
    assert unsampled is not None
    assert not unsampled.sampled
    assert unsampled.headers() == {"traceparent": f"00-{TRACE}-{SPAN}-00"}


@pytest.mark.parametrize(
    "value",
    [
        None,
        7,
        b"00-" + TRACE.encode() + b"-" + SPAN.encode() + b"-01",
        "",
        PARENT.upper(),  # W3C: lowercase hex only
        f"00-{TRACE}-{SPAN}-1",
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}0-01",
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01",  # the forbidden version
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f" {PARENT}",
        f"{PARENT}\n",
        f"00_{TRACE}_{SPAN}_01",
        f"0g-{TRACE}-{SPAN}-01",
        PARENT + "-" + "x" * 600,
    ],
)
def test_a_malformed_traceparent_is_no_trace_context(value: object) -> None:
    assert vm.TraceContext.from_headers(value) is None


def test_a_later_version_is_read_as_version_00_would() -> None:
    """A future version may append fields; a version-00 reader keeps the four it knows and
    only the sampled flag."""
    tc = vm.TraceContext.from_headers(f"cc-{TRACE}-{SPAN}-ff-what-comes-next")
    assert tc == vm.TraceContext(TRACE, SPAN, 1)
    assert vm.TraceContext.from_headers(f"01-{TRACE}-{SPAN}-00") == vm.TraceContext(TRACE, SPAN)
    assert vm.TraceContext.from_headers(f"01-{TRACE}-{SPAN}-00x") is None


def test_the_constructor_refuses_what_no_header_could_carry() -> None:
    for args in [
        ("X" * 32, SPAN),
        (TRACE, "0" * 16),
        (TRACE, SPAN, 256),
        (TRACE, SPAN, True),
    ]:
        with pytest.raises(ValueError, match="expected"):
            vm.TraceContext(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tracestate"):
        vm.TraceContext(TRACE, SPAN, 1, "a=1, b=2")  # not normalised
    with pytest.raises(ValueError, match="tracestate"):
        vm.TraceContext(TRACE, SPAN, 1, "")


# ---- tracestate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rojo=00f067aa0ba902b7", "rojo=00f067aa0ba902b7"),
        ("rojo=1 , congo=2", "rojo=1,congo=2"),
        ("rojo=1,,\tcongo=2,", "rojo=1,congo=2"),
        ("tenant@vendor=v1,k*_-/=x", "tenant@vendor=v1,k*_-/=x"),
        ("0tenant@vendor=v", "0tenant@vendor=v"),
        ("a=b c", "a=b c"),  # a space inside a value is allowed, not at its end
        ("", None),
        (" , ", None),
        ("Rojo=1", None),  # keys are lowercase
        ("rojo=1,rojo=2", None),  # a key twice
        ("rojo", None),
        ("rojo=", None),
        ("rojo=a,b", None),
        ("rojo=a=b", None),  # '=' is not allowed in a value
        ("rojo=é", None),
        ("0rojo=1", None),  # only a tenant key may start with a digit
        (",".join(f"k{i}=v" for i in range(33)), None),  # 33 members
        ("k=" + "v" * 257, None),
        (7, None),
    ],
)
def test_tracestate_is_checked_and_normalised(text: object, expected: str | None) -> None:
    assert parse_tracestate(text) == expected


def test_a_malformed_tracestate_is_dropped_and_the_traceparent_kept() -> None:
    assert vm.TraceContext.from_headers(PARENT, "bad state") == vm.TraceContext(TRACE, SPAN, 1)
    assert vm.TraceContext.from_headers(PARENT, 12) == vm.TraceContext(TRACE, SPAN, 1)
    assert vm.TraceContext.from_headers(PARENT, "x" * 10_000) == vm.TraceContext(TRACE, SPAN, 1)


# ---- X-Ray --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (XRAY, XRAY_CONTEXT),
        (
            "Sampled=0;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
            vm.TraceContext("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", 0),
        ),
        (XRAY + ";Lineage=a87bd80c:1|68fd508a:5", XRAY_CONTEXT),
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793; Parent=53995c3f42cd8ad8; Sampled=1",
            XRAY_CONTEXT,
        ),
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            vm.TraceContext("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", 0),
        ),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", None),  # no parent to link
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?", None),
        ("Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", None),
        ("Root=1-5759E988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", None),
        ("Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8", None),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad", None),
        ("Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8", None),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", None),
        (XRAY + ";Parent=53995c3f42cd8ad9", None),  # a key twice
        ("Root", None),
        ("", None),
        (None, None),
        (XRAY + ";x=" + "y" * 2000, None),
    ],
)
def test_an_xray_header_converts_to_a_trace_context(
    header: object, expected: vm.TraceContext | None
) -> None:
    assert vm.TraceContext.from_xray(header) == expected
    if expected is not None:
        assert expected.traceparent == (
            f"00-{expected.trace_id}-{expected.span_id}-{'01' if expected.sampled else '00'}"
        )


@given(st.text(max_size=120), st.text(max_size=120))
def test_no_text_makes_a_reader_raise(first: str, second: str) -> None:
    """Untrusted input: every reader answers, never raises."""
    vm.TraceContext.from_headers(first, second)
    vm.TraceContext.from_xray(first)
    parse_tracestate(first)
    trace_from_envelope({"traceparent": first, "tracestate": second})
    trace_from_record({"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": first}})


# ---- carriers -----------------------------------------------------------------------------


def test_each_carrier_reader_finds_its_headers() -> None:
    expected = vm.TraceContext(TRACE, SPAN, 1, "a=1")
    assert trace_from_attributes({"tenant": "x", "traceparent": PARENT, "tracestate": "a=1"}) == (
        expected
    )
    assert trace_from_attributes({"traceparent": b"binary"}) is None
    assert trace_from_attributes({}) is None
    assert trace_from_metadata({"TraceParent": PARENT, "TRACESTATE": "a=1"}) == expected
    assert trace_from_metadata({"vmsg-type": "a"}) is None
    assert trace_from_envelope({"type": "a", "traceparent": PARENT, "tracestate": "a=1"}) == (
        expected
    )
    assert trace_from_envelope({"traceparent": 5}) is None
    assert trace_from_envelope("not a header") is None
    sqs: dict[str, Any] = {"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": XRAY}}
    assert trace_from_record(sqs) == XRAY_CONTEXT
    assert trace_from_record({**sqs, "eventSource": "aws:kinesis"}) is None
    assert trace_from_record({"eventSource": "aws:sqs", "attributes": "x"}) is None
    assert trace_from_record(None) is None


def test_the_envelope_carries_the_trace_after_the_stamp() -> None:
    stamp = vm.Stamp(type="a", version=2)
    tc = vm.TraceContext(TRACE, SPAN, 1, "a=1")
    body = embed(b"{}", stamp, tc)
    assert body == (
        b'{"vmsg":{"type":"a","version":2,"traceparent":"' + PARENT.encode() + b'",'
        b'"tracestate":"a=1"},"data":{}}'
    )
    assert vm.Encoded(b"{}", stamp).embedded(tc) == body
    assert unembed_traced(body) == (stamp, b"{}", tc)
    assert unembed(body) == (stamp, b"{}")  # what a reader without tracing sees
    assert embed(b"{}", stamp) == b'{"vmsg":{"type":"a","version":2},"data":{}}'


def test_a_malformed_trace_in_an_envelope_leaves_the_envelope_valid() -> None:
    body = b'{"vmsg":{"type":"a","version":1,"traceparent":"00-zz","tracestate":3},"data":1}'
    assert unembed_traced(body) == (vm.Stamp(type="a", version=1), b"1", None)


def test_meta_reads_the_trace_context_lazily_from_what_it_holds() -> None:
    """Attributes first, then the payload's own carrier, then SQS's AWSTraceHeader; nothing
    is stored on the Meta by the fast path, whose Meta carries attributes and record."""
    sqs_record = {"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": XRAY}}
    carried = vm.TraceContext(TRACE, "1111111111111111", 0)
    base = vm.Meta(type="a", version=1)
    assert base.trace_context is None
    from_attrs = vm.Meta(
        type="a",
        version=1,
        attributes={"traceparent": PARENT},
        record=sqs_record,
        carried_trace=carried,
    )
    assert from_attrs.trace_context == vm.TraceContext(TRACE, SPAN, 1)
    bad_attrs = vm.Meta(
        type="a", version=1, attributes={"traceparent": "junk"}, carried_trace=carried
    )
    assert bad_attrs.trace_context == carried
    assert vm.Meta(type="a", version=1, record=sqs_record).trace_context == XRAY_CONTEXT
    junk_xray = {"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": "Root=junk"}}
    assert vm.Meta(type="a", version=1, record=junk_xray).trace_context is None
