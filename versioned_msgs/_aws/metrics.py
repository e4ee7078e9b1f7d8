"""Per-version counts: a sink protocol and a CloudWatch Embedded Metric Format sink.

A consumer calls its sink once per invocation with ``{(type, version, outcome): count}``.
Records whose stamp could not be read count under type ``"(none)"``, version ``0``; records
whose type the registry does not know count under type ``"(unknown)"``, version ``0`` (a
parenthesis can never appear in a real type name). A sender can write any type and version
in a stamp: only types the consumer recognised become a ``Type`` dimension.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Protocol, get_args, runtime_checkable

import msgspec

__all__ = ["NO_TYPE", "UNKNOWN_TYPE", "Counts", "EMFMetrics", "MemoryMetrics", "MetricsSink"]

#: The type name counted for records without a readable stamp.
NO_TYPE = "(none)"
#: The type name counted for records of a type the registry does not know (version ``0``).
UNKNOWN_TYPE = "(unknown)"

Counts = Mapping[tuple[str, int, str], int]


@runtime_checkable
class MetricsSink(Protocol):
    """Anything with ``emit(counts)``; called once per invocation, never per record."""

    def emit(self, counts: Counts) -> None: ...


class MemoryMetrics:
    """Adds every invocation's counts into ``totals`` (for tests and local workers)."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, int, str], int] = {}
        self.calls = 0

    def emit(self, counts: Counts) -> None:
        self.calls += 1
        for k, n in counts.items():
            self.totals[k] = self.totals.get(k, 0) + n


_encode = msgspec.json.Encoder().encode

# CloudWatch's Dimension rules (PutMetricData, and the metrics EMF lines become).
MAX_DIMENSIONS = 30  # per metric, Type and Version included
MAX_DIMENSION_NAME = 255
MAX_DIMENSION_VALUE = 1024
_OWN_DIMENSIONS = ("Type", "Version")


def _own_keys() -> frozenset[str]:
    """The top-level keys every EMF line writes itself: a dimension may not reuse one."""
    from .report import Outcome  # report imports this module: imported when first needed

    return frozenset({"_aws", *_OWN_DIMENSIONS, "Messages", "FunctionName", *get_args(Outcome)})


def _shown(name: str) -> str:
    """A dimension name for a message: quoted, escaped, cut after 60 characters."""
    return repr(name[:60]) + ("..." if len(name) > 60 else "")


def _check_text(what: str, text: str, name: str, longest: int) -> None:
    """One dimension name or value against CloudWatch's rules (``what``: "name"/"value")."""
    shown = _shown(name)
    subject = f"dimension {shown}" if what == "name" else f"the value of dimension {shown}"
    if not text.strip():
        problem = "is empty or blank: CloudWatch needs at least one non-whitespace character"
    elif what == "name" and text.startswith(":"):
        problem = "starts with ':', which CloudWatch does not allow in a dimension name"
    elif not text.isascii():
        problem = "has non-ASCII characters: CloudWatch dimension names and values are ASCII"
    elif not text.isprintable():  # for ASCII text: any control character, tab and DEL too
        problem = "has ASCII control characters, which CloudWatch does not accept"
    elif len(text) > longest:
        problem = f"is {len(text):,} characters: CloudWatch allows at most {longest:,}"
    else:
        return
    raise ValueError(f"dimensions: {subject} {problem}")


def _check_dimensions(extra: Mapping[str, object]) -> None:
    """Raise ValueError for dimensions CloudWatch would refuse or a line would overwrite.

    Messages name the rule and the dimension, never a value.
    """
    own = _own_keys()
    for name, value in extra.items():
        if not isinstance(name, str):
            raise ValueError(f"dimensions: expected str names, got a {type(name).__name__}")
        if name in own:
            raise ValueError(
                f"dimensions: {_shown(name)} is one of the keys every line writes itself "
                f"({', '.join(sorted(own))}): choose another name"
            )
        _check_text("name", name, name, MAX_DIMENSION_NAME)
        if not isinstance(value, str):
            raise ValueError(
                f"dimensions: expected a str value for dimension {_shown(name)}, "
                f"got a {type(value).__name__}"
            )
        _check_text("value", value, name, MAX_DIMENSION_VALUE)
    total = len(_OWN_DIMENSIONS) + len(extra)
    if total > MAX_DIMENSIONS:
        raise ValueError(
            f"dimensions: CloudWatch allows at most {MAX_DIMENSIONS} dimensions per metric, "
            f"Type and Version included, so at most {MAX_DIMENSIONS - len(_OWN_DIMENSIONS)} of "
            f"yours; got {len(extra)} ({total} in all)"
        )


class EMFMetrics:
    """Write counts as CloudWatch Embedded Metric Format: one JSON log line per
    (type, version) seen in the invocation, no dependency, no API call.

    Each line has dimensions ``Type`` and ``Version`` (plus ``dimensions`` you add, such as
    a service name), a ``Messages`` metric (every record of that type and version) and one
    metric per outcome seen (``handled``, ``upgraded``, ``retried``...), all ``Count``.
    ``stream`` defaults to ``sys.stdout`` at emit time, which Lambda ships to CloudWatch Logs.
    ``FunctionName`` is added as a property (not a dimension) when running in Lambda.

    ``dimensions`` follow CloudWatch's rules, checked here (``ValueError`` naming the rule
    and the dimension): names are not the line's own keys (``_aws``, ``Type``, ``Version``,
    ``Messages``, ``FunctionName``, the outcome names); names and values are ASCII without
    control characters, with at least one non-whitespace character; names do not start with
    ``:``; names have at most 255 characters and values at most 1,024; and a line has at
    most 30 dimensions, ``Type`` and ``Version`` included (so 28 of yours).
    """

    def __init__(
        self,
        *,
        namespace: str = "VersionedMsgs",
        stream: IO[str] | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not namespace or len(namespace) > 255:
            raise ValueError(f"namespace: expected 1-255 characters, got {namespace!r}")
        extra = dict(dimensions or {})
        _check_dimensions(extra)
        self.namespace = namespace
        self.stream = stream
        self.dimensions = extra

    def lines(self, counts: Counts, *, timestamp_ms: int | None = None) -> list[str]:
        """The EMF documents for ``counts``, one per (type, version), sorted."""
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        groups: dict[tuple[str, int], dict[str, int]] = {}
        for (type_, version, outcome), n in counts.items():
            if n:
                g = groups.setdefault((type_, version), {})
                g[outcome] = g.get(outcome, 0) + n
        dim_names = ["Type", "Version", *self.dimensions]
        fn = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        out: list[str] = []
        for (type_, version), outcomes in sorted(groups.items()):
            names = ["Messages", *sorted(outcomes)]
            doc: dict[str, object] = {
                "_aws": {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [dim_names],
                            "Metrics": [{"Name": n, "Unit": "Count"} for n in names],
                        }
                    ],
                },
                "Type": type_,
                "Version": str(version),
                **self.dimensions,
                "Messages": sum(outcomes.values()),
                **{k: outcomes[k] for k in sorted(outcomes)},
            }
            if fn:
                doc["FunctionName"] = fn
            out.append(_encode(doc).decode())
        return out

    def emit(self, counts: Counts) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        text = "".join(line + "\n" for line in self.lines(counts))
        if text:
            stream.write(text)
            stream.flush()
