"""``import versioned_msgs`` stays cheap for Lambda cold starts: msgspec only."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["boto3", "botocore", "pydantic", "pydantic_core", "moto", "hypothesis", "pytest"]


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
