"""``import versioned_msgs`` stays cheap for Lambda cold starts: msgspec only."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "boto3",
    "botocore",
    "pydantic",
    "pydantic_core",
    "moto",
    "hypothesis",
    "pytest",
    "opentelemetry",
]


def test_import_loads_no_heavy_dependency() -> None:
    """A fresh interpreter importing the package loads none of boto3/botocore/pydantic/moto."""
    code = (
        "import json, sys, versioned_msgs; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_the_check_can_see_a_heavy_import() -> None:
    """The same probe reports boto3 when it is imported, so the check above can fail."""
    code = "import json, sys, versioned_msgs, boto3; print(json.dumps('boto3' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) is True


# Publishing and consuming in a process that never imported OpenTelemetry (installed in the
# dev environment, so this also proves an installed-but-unused SDK is never loaded).
_UNTRACED_ROUND_TRIP = """
import json, sys
import msgspec
import versioned_msgs as vm
from versioned_msgs.testing import sqs_event

reg = vm.Registry()

@reg.message("note", version=1)
class Note(msgspec.Struct):
    text: str

class Client:
    def send_message(self, **request):
        self.request = request
        return {"MessageId": "m-1"}

client = Client()
vm.Publisher(reg, sqs=client).send("https://queue", Note("hi"))
seen = []
consumer = vm.Consumer(reg)
consumer.handler(Note)(lambda msg, meta: seen.append(meta.trace_context))
consumer.process(sqs_event(reg.encode(Note("hi"))), None)
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"),
    "sent": sorted(client.request["MessageAttributes"]),
    "seen": [repr(t) for t in seen],
}))
"""


def test_publishing_and_consuming_never_load_opentelemetry() -> None:
    """Without the application importing OpenTelemetry, nothing of it loads: no trace
    attribute is sent and handlers run unwrapped."""
    out = subprocess.run(
        [sys.executable, "-c", _UNTRACED_ROUND_TRIP],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == {
        "loaded": [],
        "sent": ["vmsg-type", "vmsg-version"],
        "seen": ["None"],
    }
