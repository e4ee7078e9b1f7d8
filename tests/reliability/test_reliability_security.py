"""Security: message content never reaches pickle, eval, exec or an import; size caps hold
before any download and before any decode; stamps are untrusted input.

The source scan walks the AST of every module in ``versioned_msgs/``. The only dynamic
import allowed is the CLI's ``MODULE:ATTR`` loader (``_cli.main.load_object``, and the reload in
``_cli.main._rerun`` it uses), whose argument is a name typed on the command line.
"""

from __future__ import annotations

import ast
import builtins
import pickle
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import msgspec
import pytest
from faults import Faults
from hypothesis import HealthCheck, given, settings
from reliability_models import SOAK, OrderV2, new_registry

import versioned_msgs as vm
from versioned_msgs._core.envelope import unembed
from versioned_msgs.testing import Emulator, lambda_sqs_event, s3_event, sqs_event

PACKAGE = Path(vm.__file__).parent
FORBIDDEN_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
FORBIDDEN_MODULES |= {"jsonpickle", "yaml", "runpy", "code", "codeop"}
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__", "breakpoint"}
DYNAMIC_IMPORTS = {"importlib.import_module", "importlib.reload", "importlib.__import__"}
# (module file, function, call): the CLI's MODULE:ATTR loader, a name from the command line.
ALLOWED = {
    ("_cli/main.py", "load_object", "importlib.import_module"),
    ("_cli/main.py", "_rerun", "importlib.reload"),
}
# Functions that import by name may be called only from the CLI's argument handling.
LOADERS = {"load_object", "load_registry"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def scan(source: str, filename: str) -> list[str]:
    """Every forbidden construct in one module, as ``file:line: what (in function)``."""
    tree = ast.parse(source, filename)
    problems: list[str] = []
    aliases: dict[str, str] = {}  # local name -> dotted origin, for `from x import y as z`

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            func = node.name
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"{where}: import {alias.name} (in {func})")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"{where}: from {node.module} import ... (in {func})")
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is not None:
                head, _, rest = name.partition(".")
                full = f"{aliases[head]}.{rest}".rstrip(".") if head in aliases else name
                evaluates = full.removeprefix("builtins.") in FORBIDDEN_BUILTINS
                imports = full in DYNAMIC_IMPORTS and (filename, func, full) not in ALLOWED
                if evaluates or imports:
                    problems.append(f"{where}: {full}() (in {func})")
                elif full.split(".")[-1] in LOADERS and filename != "_cli/main.py":
                    problems.append(f"{where}: {full}() outside the CLI (in {func})")
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return problems


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The scan flags each forbidden construct (so a clean scan means something)."""
    bad = """
import pickle
from marshal import loads
import importlib
from importlib import import_module as im
def handle(body, name):
    eval(body)
    exec(body)
    __import__(name)
    importlib.import_module(name)
    im(name)
    builtins.compile(body, "x", "exec")
    load_object(name)
def load_object(spec):
    importlib.import_module(spec)
"""
    found = scan(bad, "_consumer.py")
    assert [p.split(": ", 1)[1] for p in found] == [
        "import pickle (in <module>)",
        "from marshal import ... (in <module>)",
        "eval() (in handle)",
        "exec() (in handle)",
        "__import__() (in handle)",
        "importlib.import_module() (in handle)",
        "importlib.import_module() (in handle)",
        "builtins.compile() (in handle)",
        "load_object() outside the CLI (in handle)",
        "importlib.import_module() (in load_object)",  # allowed only in _cli/main.py
    ]
    assert (
        scan(
            "import importlib\ndef load_object(s):\n    importlib.import_module(s)\n",
            "_cli/main.py",
        )
        == []
    )


def test_package_never_evaluates_or_imports_by_name() -> None:
    """No module of versioned_msgs uses pickle/marshal/shelve, eval/exec/compile or
    __import__, and the only dynamic imports are the CLI's MODULE:ATTR loader."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 15
    problems = [p for f in files for p in scan(f.read_text(), f.relative_to(PACKAGE).as_posix())]
    assert problems == []
    # the allowed loader is still where this test says it is
    cli = scan(
        (PACKAGE / "_cli" / "main.py").read_text().replace("def load_object", "def renamed"),
        "_cli/main.py",
    )
    assert any("importlib.import_module() (in renamed)" in p for p in cli)


class _Exploit:
    """Unpickling this runs code: what a pickle-based consumer would be open to."""

    def __reduce__(self) -> Any:
        return (exec, ("import builtins; builtins.VMSG_PWNED = True",))


def test_pickled_and_module_named_payloads_are_rejected_without_running(
    aws: Emulator,
) -> None:
    """A pickle payload (as JSON or as a pickle content type) and stamps naming Python
    modules are rejected or refused; the pickle never runs and no module gets imported."""
    payload = pickle.dumps(_Exploit())
    pickle.loads(payload)  # the payload is live...
    assert builtins.VMSG_PWNED is True  # type: ignore[attr-defined]
    del builtins.VMSG_PWNED  # type: ignore[attr-defined]
    never = ("antigravity", "this", "turtle")
    assert not any(m in sys.modules for m in never)
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="untrusted")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    text = payload.decode("latin-1")
    stamps = [
        vm.Stamp(type="order.created", version=2),
        vm.Stamp(type="order.created", version=2, content_type="application/python-pickle"),
        *(vm.Stamp(type=m, version=1) for m in never),
        vm.Stamp(type="os.system", version=1),
    ]
    for i, stamp in enumerate(stamps):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=text if i < 2 else '{"id": "x", "qty": 1}',
            MessageAttributes=stamp.to_message_attributes(),
        )
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert len(msgs) == len(stamps)
    handled: list[Any] = []
    consumer = vm.Consumer(new_registry())
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg))
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["rejected"] * len(stamps)
    errors = Counter(type(r.error).__name__ for r in report.records)
    assert errors == {"PayloadError": 2, "UnknownTypeError": 4}
    assert handled == []
    assert not hasattr(builtins, "VMSG_PWNED")
    assert not any(m in sys.modules for m in never)


# ---- size caps ----------------------------------------------------------------------------


def _counting(s3: Any) -> Counter[tuple[str, str]]:
    calls: Counter[tuple[str, str]] = Counter()
    faults = Faults(s3)
    for op in ("HeadObject", "GetObject"):
        faults.on(op, lambda params, op=op: calls.update([(op, params.get("Key", ""))]))
    return calls


def test_oversized_objects_are_refused_before_any_download(aws: Emulator) -> None:
    """S3 notifications and large-payload pointers to objects over max_bytes: HeadObject
    only, no GetObject at all, the record rejected with LimitExceededError naming max_bytes;
    objects within the cap are read and handled."""
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket="bkt")
    calls = _counting(s3)
    pub = vm.Publisher(new_registry(), s3=s3, sqs=sqs, large_payload_bucket="bkt")
    small = pub.put_object("bkt", "small", OrderV2(id="small", qty=1))
    big = pub.put_object("bkt", "big", OrderV2(id="big", qty=1, note="x" * 5000))
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3, max_bytes=2048, allowed_buckets=["bkt"])
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    for key, etag in (("small", small["ETag"]), ("big", big["ETag"])):
        report = consumer.process(s3_event("bkt", key, etag=etag), None)
        assert [r.outcome for r in report.records] == ["handled" if key == "small" else "rejected"]
    err = report.records[0].error
    assert isinstance(err, vm.LimitExceededError)
    assert "max_bytes (2048)" in str(err)
    assert "not downloaded" in str(err)
    # a large payload over SQS: the body went to S3, the message carries a pointer
    url = sqs.create_queue(QueueName="large")["QueueUrl"]
    pub.send(url, OrderV2(id="pointer", qty=1, note="y" * (1024 * 1024)))
    msgs = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    report = consumer.process(lambda_sqs_event(msgs, "arn:aws:sqs:us-east-1:1:large"), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.LimitExceededError)
    pointer_key = next(k for _, k in calls if k.startswith("vmsg-large/"))
    assert handled == ["small"]
    assert calls == Counter(
        {
            ("HeadObject", "small"): 1,
            ("GetObject", "small"): 1,
            ("HeadObject", "big"): 1,
            ("HeadObject", pointer_key): 1,
        }
    )


def test_an_s3_event_size_pinned_by_its_etag_saves_the_head_request(aws: Emulator) -> None:
    """An S3 notification carries the object's size, and its eTag pins that exact object:
    the cap is checked against the event's size, so a small object costs one GetObject (no
    HeadObject) and an oversized one no request at all."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    calls = _counting(s3)
    pub = vm.Publisher(new_registry(), s3=s3)
    small = pub.put_object("bkt", "small", OrderV2(id="small", qty=1))
    big = pub.put_object("bkt", "big", OrderV2(id="big", qty=1, note="x" * 5000))
    sizes = {k: s3.head_object(Bucket="bkt", Key=k)["ContentLength"] for k in ("small", "big")}
    calls.clear()
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3, max_bytes=2048)
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    outcomes = []
    for key, etag in (("small", small["ETag"]), ("big", big["ETag"])):
        event = s3_event("bkt", key, etag=etag, size=sizes[key])
        outcomes += [(r.outcome, r.error) for r in consumer.process(event, None).records]
    assert [o for o, _ in outcomes] == ["handled", "rejected"]
    assert isinstance(outcomes[1][1], vm.LimitExceededError)
    assert f"object of {sizes['big']} bytes is larger than max_bytes (2048)" in str(outcomes[1][1])
    assert handled == ["small"]
    assert calls == Counter({("GetObject", "small"): 1})


def test_an_event_size_that_lies_is_caught_before_the_body_is_read(aws: Emulator) -> None:
    """A forged event claiming a tiny size for a big object: the GetObject's ContentLength
    is checked before the body is read, so the payload is never decoded."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    big = vm.Publisher(new_registry(), s3=s3).put_object(
        "bkt", "big", OrderV2(id="big", qty=1, note="x" * 5000)
    )
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3, max_bytes=2048)
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    report = consumer.process(s3_event("bkt", "big", etag=big["ETag"], size=10), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.LimitExceededError)
    assert handled == []


def test_an_object_grown_between_head_and_get_is_never_decoded(aws: Emulator) -> None:
    """If the object is replaced by a larger one after HeadObject (a pointer has no ETag to
    pin it), the read stops at max_bytes + 1 bytes and the record is rejected: the payload
    is never decoded and the handler never runs."""
    s3 = aws.client("s3")
    writer = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    pub = vm.Publisher(new_registry(), s3=writer)
    pub.put_object("bkt", "k", OrderV2(id="small", qty=1))
    faults = Faults(s3)

    def grow(params: dict[str, Any]) -> None:
        pub.put_object("bkt", "k", OrderV2(id="big", qty=1, note="z" * 10_000))

    faults.on("GetObject", grow)
    reader = vm.S3Reader(new_registry(), s3=s3, max_bytes=2048)
    with pytest.raises(vm.LimitExceededError, match="larger than max_bytes"):
        reader.get("bkt", "k")
    # the same through a consumer, as a large-payload pointer
    pub.put_object("bkt", "k", OrderV2(id="small", qty=1))
    handled: list[str] = []
    consumer = vm.Consumer(new_registry(), s3=s3, max_bytes=2048, allowed_buckets=["bkt"])
    consumer.handler(OrderV2)(lambda msg, meta: handled.append(msg.id))
    pointer = vm.Encoded(
        msgspec.json.encode(
            [
                "software.amazon.payloadoffloading.PayloadS3Pointer",
                {"s3BucketName": "bkt", "s3Key": "k"},
            ]
        ),
        vm.Stamp(type="order.created", version=2),
    )
    report = consumer.process(sqs_event(pointer), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.LimitExceededError)
    assert handled == []


# ---- stamps are untrusted ----------------------------------------------------------------------

_HEALTH = [HealthCheck.too_slow]
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)
heads = st.one_of(
    junk,
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["order.created", "os.system", ""]), junk)},
        optional={
            "version": st.one_of(st.integers(-2, 2**40), junk),
            "readable_by": st.one_of(st.integers(-2, 5), junk),
            "producer": st.one_of(st.text(max_size=300), junk),
            "content_type": st.one_of(st.sampled_from(["application/json", "a/b", "x"]), junk),
        },
    ),
)


@settings(max_examples=20000 if SOAK else 1000, deadline=None, suppress_health_check=_HEALTH)
@given(head=heads, data=junk, raw=st.binary(max_size=30))
def test_embedded_envelopes_give_a_stamp_none_or_stamp_error(
    head: Any, data: Any, raw: bytes
) -> None:
    """``{"vmsg": <anything>, "data": <anything>}`` and arbitrary bytes: unembed returns a
    valid Stamp (or None for a non-envelope) with the data bytes, or raises StampError."""
    for body in (
        msgspec.json.encode({"vmsg": head, "data": data}),
        b'{"vmsg":' + raw,
        raw,
    ):
        try:
            stamp, inner = unembed(body)
        except vm.StampError:
            continue
        assert stamp is None or isinstance(stamp, vm.Stamp)
        assert isinstance(inner, bytes)
