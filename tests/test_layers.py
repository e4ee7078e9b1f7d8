"""The package's layers, enforced: each layer imports only the layers below it.

    _core     (stamp, envelope, attributes, registry, codec, routing, errors, meta)
      ^
    _aws      (events, consumer, sqs_fast, report, publisher, limits, batch, s3reader, ...)
      ^
    _cli, testing, s3batch, the package's __init__

Read from the source (every ``import`` and ``from ... import``, lazy ones inside functions
included), so a new import against the flow fails here before it is merged.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "versioned_msgs"

# layer -> the layers it may import from (besides itself)
ALLOWED = {
    "_core": set(),
    "_aws": {"_core"},
    "_cli": {"_core", "_aws", "testing"},
    "testing": {"_core", "_aws"},
}


def _layer(module: str) -> str | None:
    """The layer of a dotted module name inside the package (None: the top level)."""
    parts = module.split(".")
    if parts[0] != "versioned_msgs" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ALLOWED else None


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module) of every package-internal import in one file."""
    rel = path.relative_to(package.parent).with_suffix("")
    here = list(rel.parts if rel.name != "__init__" else rel.parts[:-1])
    parent = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent[: len(parent) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            out += [(node.lineno, t) for t in names if t.startswith("versioned_msgs")]
        elif isinstance(node, ast.Import):
            out += [
                (node.lineno, a.name) for a in node.names if a.name.startswith("versioned_msgs")
            ]
    return out


def _violations(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        mine = _layer(".".join(path.relative_to(package.parent).with_suffix("").parts))
        if mine is None:
            continue
        for line, target in _imports(path, package):
            theirs = _layer(target)
            if theirs is not None and theirs != mine and theirs not in ALLOWED[mine]:
                found.append(f"{path.relative_to(package)}:{line} ({mine}) imports {target}")
    return found


def test_each_layer_imports_only_the_layers_below_it() -> None:
    """_core imports no other layer; _aws only _core; testing and the CLI build on both."""
    assert _violations() == []


def test_the_check_sees_relative_and_lazy_imports(tmp_path: Path) -> None:
    """The import reader resolves relative imports, including those inside functions, and
    a core module importing the runtime or the testing package is a violation."""
    package = tmp_path / "versioned_msgs"
    (package / "_core").mkdir(parents=True)
    probe = package / "_core" / "probe.py"
    probe.write_text(
        "from .errors import E\n"
        "def f():\n"
        "    from .._aws import consumer\n"
        "    from ..testing._events import x\n"
        "    from . import stamp\n",
        encoding="utf-8",
    )
    assert _imports(probe, package) == [
        (1, "versioned_msgs._core.errors"),
        (3, "versioned_msgs._aws"),
        (4, "versioned_msgs.testing._events"),
        (5, "versioned_msgs._core.stamp"),
    ]
    assert _violations(package) == [
        "_core/probe.py:3 (_core) imports versioned_msgs._aws",
        "_core/probe.py:4 (_core) imports versioned_msgs.testing._events",
    ]


@pytest.mark.parametrize("module", ["versioned_msgs", "versioned_msgs.s3batch"])
def test_the_library_loads_no_tool_or_test_code(module: str) -> None:
    """Importing the library (or the S3 Batch handler) in a fresh interpreter loads no CLI,
    terminal, demo or testing module, and neither boto3, pydantic nor OpenTelemetry (used
    only when the application imports it)."""
    code = (
        f"import sys, {module}; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('versioned_msgs._cli', "
        "'versioned_msgs.testing', 'boto3', 'botocore', 'pydantic', 'moto', "
        "'opentelemetry')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_library_never_imports_opentelemetry() -> None:
    """OpenTelemetry is reached only through ``sys.modules`` (``_aws/otel.py``), never by an
    import statement anywhere in the package, lazy ones included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [
                f"{path.relative_to(PACKAGE)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] == "opentelemetry"
            ]
    assert found == []
