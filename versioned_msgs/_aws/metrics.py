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
from typing import IO, Protocol, runtime_checkable

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


class EMFMetrics:
    """Write counts as CloudWatch Embedded Metric Format: one JSON log line per
    (type, version) seen in the invocation, no dependency, no API call.

    Each line has dimensions ``Type`` and ``Version`` (plus ``dimensions`` you add, such as
    a service name), a ``Messages`` metric (every record of that type and version) and one
    metric per outcome seen (``handled``, ``upgraded``, ``retried``...), all ``Count``.
    ``stream`` defaults to ``sys.stdout`` at emit time, which Lambda ships to CloudWatch Logs.
    ``FunctionName`` is added as a property (not a dimension) when running in Lambda.
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
        for k, v in extra.items():
            if k in ("Type", "Version") or not isinstance(v, str):
                raise ValueError(
                    f"dimensions: expected str values and names other than Type/Version, "
                    f"got {k!r}: {v!r}"
                )
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
