"""Metrics sinks: counts per (type, version, outcome), once per invocation; EMF lines."""

from __future__ import annotations

import io
import json
from typing import Any, get_args

import pytest
from consumer_models import OrderV2, Seen, consumer_registry, v1, v2, v4

import versioned_msgs as vm
from versioned_msgs._aws.report import Outcome
from versioned_msgs.testing import sqs_event


def test_emf_line_per_type_and_version() -> None:
    """One EMF document per (type, version): dimensions, Messages total, one metric per
    outcome, all declared in _aws.CloudWatchMetrics."""
    sink = vm.EMFMetrics(namespace="Shop", dimensions={"Service": "orders"})
    lines = sink.lines(
        {
            ("order.created", 1, "upgraded"): 3,
            ("order.created", 1, "retried"): 1,
            ("order.created", 2, "handled"): 5,
        },
        timestamp_ms=1700000000000,
    )
    docs = [json.loads(line) for line in lines]
    assert [(d["Type"], d["Version"]) for d in docs] == [
        ("order.created", "1"),
        ("order.created", "2"),
    ]
    first = docs[0]
    assert first["Messages"] == 4
    assert (first["upgraded"], first["retried"]) == (3, 1)
    assert first["Service"] == "orders"
    spec = first["_aws"]["CloudWatchMetrics"][0]
    assert first["_aws"]["Timestamp"] == 1700000000000
    assert spec["Namespace"] == "Shop"
    assert spec["Dimensions"] == [["Type", "Version", "Service"]]
    assert [m["Name"] for m in spec["Metrics"]] == ["Messages", "retried", "upgraded"]
    assert all(m["Unit"] == "Count" for m in spec["Metrics"])


def test_emf_emit_writes_lines_to_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """emit() writes newline-terminated JSON to the stream; FunctionName is a property."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer")
    out = io.StringIO()
    vm.EMFMetrics(stream=out).emit({("order.created", 2, "handled"): 2})
    text = out.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    doc = json.loads(text)
    assert doc["FunctionName"] == "orders-consumer"
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Type", "Version"]]


def test_emf_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the lines go to stdout (Lambda ships stdout to CloudWatch Logs)."""
    vm.EMFMetrics().emit({("(none)", 0, "rejected"): 1})
    assert json.loads(capsys.readouterr().out)["Type"] == "(none)"


def test_emf_options_are_checked() -> None:
    """Bad namespaces and dimensions that would clash with Type/Version are refused."""
    with pytest.raises(ValueError, match="namespace"):
        vm.EMFMetrics(namespace="")
    with pytest.raises(ValueError, match="dimensions"):
        vm.EMFMetrics(dimensions={"Type": "x"})


# Every key an EMF line writes at its top level besides the dimensions you add.
OWN_KEYS = ["_aws", "Type", "Version", "Messages", "FunctionName", *get_args(Outcome)]


@pytest.mark.parametrize("name", OWN_KEYS)
def test_a_dimension_may_not_reuse_a_key_the_line_writes(name: str) -> None:
    """A dimension named like the line's own keys would overwrite a count, the stamp's
    dimensions or the EMF metadata: refused, naming the dimension."""
    with pytest.raises(ValueError, match="one of the keys every line writes itself") as exc:
        vm.EMFMetrics(dimensions={name: "x"})
    assert repr(name) in str(exc.value)


_SECRET = "s3cr3t-v\u00e4lue"  # a value never appears in an error


@pytest.mark.parametrize(
    ("dimensions", "rule", "named"),
    [
        ({"": "orders"}, "at least one non-whitespace character", "''"),
        ({"   ": "orders"}, "at least one non-whitespace character", "'   '"),
        ({"Service": ""}, "at least one non-whitespace character", "'Service'"),
        ({"Service": " \t "}, "at least one non-whitespace character", "'Service'"),
        ({":Service": "orders"}, "starts with ':'", "':Service'"),
        ({"Servíce": "orders"}, "non-ASCII", "'Servíce'"),
        ({"Service": _SECRET}, "non-ASCII", "'Service'"),
        ({"Ser\nvice": "orders"}, "control characters", "'Ser\\nvice'"),
        ({"Service": "ord\x00ers"}, "control characters", "'Service'"),
        ({"Service": "ord\x7fers"}, "control characters", "'Service'"),
        ({"S" * 256: "orders"}, "at most 255", "'" + "S" * 60 + "'..."),
        ({"Service": "o" * 1025}, "at most 1,024", "'Service'"),
        ({"Service": 7}, "expected a str value", "'Service'"),
        ({f"D{i}": "x" for i in range(29)}, "at most 30 dimensions", "29"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "empty-value",
        "blank-value",
        "colon-name",
        "non-ascii-name",
        "non-ascii-value",
        "control-name",
        "control-value",
        "del-value",
        "long-name",
        "long-value",
        "non-str-value",
        "too-many",
    ],
)
def test_dimensions_follow_cloudwatch_rules(
    dimensions: dict[str, Any], rule: str, named: str
) -> None:
    """What CloudWatch refuses in a dimension is refused when the sink is built, with the
    rule and the dimension's name in the message, and never the value."""
    with pytest.raises(ValueError, match=r"^dimensions: ") as exc:
        vm.EMFMetrics(dimensions=dimensions)
    message = str(exc.value)
    assert rule in message
    assert named in message
    for value in dimensions.values():
        if isinstance(value, str) and value.strip() and value != "x":
            assert value not in message


def test_the_limits_themselves_are_allowed() -> None:
    """28 dimensions of yours (30 with Type and Version), a 255-character name and a
    1,024-character value are all within CloudWatch's rules."""
    dims = {f"D{i}": "x" for i in range(27)}
    dims["N" * 255] = "v" * 1024
    sink = vm.EMFMetrics(dimensions=dims)
    (line,) = sink.lines({("order.created", 2, "handled"): 1}, timestamp_ms=1)
    doc = json.loads(line)
    assert len(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == 30
    assert doc["N" * 255] == "v" * 1024


def test_valid_dimensions_give_the_same_lines_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks change nothing for valid input: the lines are byte for byte those written
    before the rules were enforced (spaces and punctuation in values are fine)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer")
    sink = vm.EMFMetrics(
        namespace="Shop",
        dimensions={"Service": "orders", "Stage": "prod", "Region-Name": "eu west 1"},
    )
    lines = sink.lines(
        {
            ("order.created", 1, "upgraded"): 3,
            ("order.created", 1, "retried"): 1,
            ("order.created", 2, "handled"): 5,
        },
        timestamp_ms=1700000000000,
    )
    head = (
        '{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Shop",'
        '"Dimensions":[["Type","Version","Service","Stage","Region-Name"]],"Metrics":'
        '[{"Name":"Messages","Unit":"Count"},'
    )
    dims = '"Service":"orders","Stage":"prod","Region-Name":"eu west 1",'
    assert lines == [
        head + '{"Name":"retried","Unit":"Count"},{"Name":"upgraded","Unit":"Count"}]}]},'
        '"Type":"order.created","Version":"1",' + dims + '"Messages":4,"retried":1,'
        '"upgraded":3,"FunctionName":"orders-consumer"}',
        head
        + '{"Name":"handled","Unit":"Count"}]}]},"Type":"order.created","Version":"2",'
        + dims
        + '"Messages":5,"handled":5,"FunctionName":"orders-consumer"}',
    ]


def test_consumer_calls_the_sink_once_per_invocation() -> None:
    """The consumer hands the sink the invocation's counts exactly once."""
    sink = vm.MemoryMetrics()
    consumer = vm.Consumer(consumer_registry(), metrics=sink)
    consumer.handler(OrderV2)(Seen())
    event = sqs_event(v1(), v1(), v2(), v4())
    event["Records"].append(sqs_event(v2())["Records"][0])
    event["Records"][-1]["messageAttributes"] = {}
    consumer.process(event, None)
    assert sink.calls == 1
    assert sink.totals == {
        ("order.created", 1, "upgraded"): 2,
        ("order.created", 2, "handled"): 1,
        ("order.created", 4, "retried"): 1,
        ("(none)", 0, "rejected"): 1,
    }
    consumer.process(sqs_event(v2()), None)
    assert sink.calls == 2
    assert sink.totals[("order.created", 2, "handled")] == 2
    assert isinstance(sink, vm.MetricsSink)


def test_a_failing_sink_never_fails_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    """A sink that raises is logged; the records' outcomes and response are unchanged."""

    class Broken:
        def emit(self, counts: Any) -> None:
            raise RuntimeError("sink down")

    consumer = vm.Consumer(consumer_registry(), metrics=Broken())
    consumer.handler(OrderV2)(Seen())
    assert consumer.handle_event(sqs_event(v2()), None) == {"batchItemFailures": []}
    assert "metrics sink raised" in caplog.text


def test_sink_without_emit_is_refused() -> None:
    """metrics= must have an emit(counts) method."""
    with pytest.raises(TypeError, match="emit"):
        vm.Consumer(consumer_registry(), metrics=object())  # type: ignore[arg-type]


def _forged(type_: str, version: int) -> vm.Encoded:
    """A message stamped with a type and version a sender chose freely."""
    return vm.Encoded(body=b'{"id": "x", "qty": 1}', stamp=vm.Stamp(type=type_, version=version))


@pytest.mark.parametrize("policy", ["reject", "ignore", "retry", "park"])
def test_types_the_registry_does_not_know_count_under_one_label(aws: Any, policy: str) -> None:
    """Types a sender makes up never become a Type or Version dimension: whatever the
    on_unknown policy does with them, they count as type "(unknown)", version 0, so the EMF
    lines hold only registered types and the two fixed labels. Registered types keep their
    version, newer ones included (the rollout alarm on them stays)."""
    park = aws.client("sqs").create_queue(QueueName="parked")["QueueUrl"]
    sink = vm.MemoryMetrics()
    out = io.StringIO()
    emf = vm.EMFMetrics(stream=out)

    class Both:
        def emit(self, counts: Any) -> None:
            sink.emit(counts)
            emf.emit(counts)

    consumer = vm.Consumer(
        consumer_registry(),
        metrics=Both(),
        on_unknown=policy,
        park_queue_url=park,  # type: ignore[arg-type]
    )
    consumer.handler(OrderV2)(Seen())
    forged = [_forged(f"evil.t{i}", 1000 + i) for i in range(20)]
    consumer.process(sqs_event(v2(), v4(), *forged), None)
    outcome = {"reject": "rejected", "ignore": "ignored", "retry": "retried", "park": "parked"}
    assert sink.totals == {
        ("order.created", 2, "handled"): 1,
        ("order.created", 4, "retried"): 1,
        ("(unknown)", 0, outcome[policy]): 20,
    }
    types = {json.loads(line)["Type"] for line in out.getvalue().splitlines()}
    assert types == {"order.created", "(unknown)"}
    assert "evil" not in out.getvalue()
    assert "100" not in out.getvalue()


def test_an_unknown_type_whose_parking_failed_counts_as_unknown(aws: Any) -> None:
    """A record of an unknown type that could not be parked (the park queue is gone) is
    `failed` before the consumer could use its type: it counts as "(unknown)" too."""
    sink = vm.MemoryMetrics()
    missing = f"{aws.endpoint_url}/123456789012/no-such-queue"
    consumer = vm.Consumer(
        consumer_registry(), metrics=sink, on_unknown="park", park_queue_url=missing
    )
    consumer.handler(OrderV2)(Seen())
    report = consumer.process(sqs_event(_forged("evil.parked", 77)), None)
    assert [r.outcome for r in report.records] == ["failed"]
    assert sink.totals == {("(unknown)", 0, "failed"): 1}
