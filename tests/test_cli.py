"""The versioned-msgs command line: usage, check and lock (versioned_msgs._cli.main)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from versioned_msgs._cli.main import main

HEADER = """\
import msgspec
import versioned_msgs as vm

registry = vm.Registry()
"""

GOOD = (
    HEADER
    + """
@registry.message("order.created", version=1)
class V1(msgspec.Struct):
    order_id: str
    total: int

@registry.message("order.created", version=2, readable_by=1)
class V2(msgspec.Struct):
    order_id: str
    total: int
    note: str = ""

@registry.upgrader("order.created", from_version=1)
def _up(d):
    return {**d, "note": ""}
"""
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Write a module into a fresh current directory; returns its MODULE name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        sys.modules.pop(name, None)
        return name

    yield write  # type: ignore[misc]
    for name in written:
        sys.modules.pop(name, None)


def test_help_and_bad_usage_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """--help exits 0, an unknown command or a missing argument exits 2."""
    assert main(["--help"]) == 0
    assert "upgrade-s3" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert main(["check"]) == 2
    assert main([]) == 2


def test_bad_target_is_usage_error(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed MODULE:ATTR, a missing module, attribute or a non-registry exit 2."""
    mod = project("regs_bad", HEADER + "x = 3\n")
    assert main(["check", "no-colon"]) == 2
    assert "expected MODULE:ATTR" in capsys.readouterr().err
    assert main(["check", "does_not_exist_mod:registry"]) == 2
    assert "cannot import 'does_not_exist_mod'" in capsys.readouterr().err
    assert main(["check", f"{mod}:nope"]) == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err
    assert main(["check", f"{mod}:x"]) == 2
    assert "expected regs_bad:x to be a versioned_msgs.Registry, got int" in capsys.readouterr().err


def test_check_good_registry(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A consistent registry prints a table of types and exits 0."""
    mod = project("regs_good", GOOD)
    assert main(["check", f"{mod}:registry"]) == 0
    out = capsys.readouterr().out
    assert "order.created  v1, v2" in out
    assert "v2 by v1+" in out
    assert "check: OK (1 types, 2 models)" in out


def test_check_registry_with_gap_fails(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing upgrader fails check with exit 1 and names the gap."""
    mod = project(
        "regs_gap",
        HEADER
        + """
@registry.message("order.created", version=1)
class V1(msgspec.Struct):
    order_id: str

@registry.message("order.created", version=3)
class V3(msgspec.Struct):
    order_id: str

@registry.upgrader("order.created", from_version=1)
def _up(d):
    return d
""",
    )
    assert main(["check", f"{mod}:registry"]) == 1
    out = capsys.readouterr().out
    assert "check: 1 problem" in out
    assert "order.created: no upgrader from v2 to v3" in out


def test_check_false_readable_by_fails(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A readable_by claim the schemas contradict fails check, naming type, versions, field."""
    mod = project(
        "regs_claim",
        HEADER
        + """
@registry.message("order.created", version=1)
class V1(msgspec.Struct):
    order_id: str
    total: int

@registry.message("order.created", version=2, readable_by=1)
class V2(msgspec.Struct):
    order_id: str

@registry.upgrader("order.created", from_version=1)
def _up(d):
    return {"order_id": d["order_id"]}
""",
    )
    assert main(["check", f"{mod}:registry"]) == 1
    out = capsys.readouterr().out
    assert (
        "order.created v2 declares readable_by=1, but a v1 reader cannot read it: field "
        "'total' is required by the older model and missing from the newer"
    ) in out


def test_lock_then_check_detects_unbumped_change(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """lock writes a snapshot; check --lock passes until a locked model changes in place."""
    mod = project("regs_lock", GOOD)
    assert main(["lock", f"{mod}:registry", "--out", "schema.lock"]) == 0
    assert "wrote 2 model schemas of 1 types" in capsys.readouterr().out
    lock = json.loads((tmp_path / "schema.lock").read_text())
    assert sorted(lock["types"]["order.created"]) == ["1", "2"]
    assert main(["check", f"{mod}:registry", "--lock", "schema.lock"]) == 0
    assert "matches schema.lock" in capsys.readouterr().out

    changed = project(
        "regs_lock2", GOOD.replace("    total: int\n    note", "    total: float\n    note")
    )
    assert main(["check", f"{changed}:registry", "--lock", "schema.lock"]) == 1
    out = capsys.readouterr().out
    assert "order.created v2: the model changed since the lock (field 'total' changed" in out
    assert "register the new shape as v3" in out


def test_check_missing_lock_file_exits_1(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable lock file is a failure (1), not a crash."""
    mod = project("regs_nolock", GOOD)
    assert main(["check", f"{mod}:registry", "--lock", "missing.lock"]) == 1
    assert "cannot read lock file missing.lock" in capsys.readouterr().err


def test_console_script_and_cheap_import(tmp_path: Path) -> None:
    """`python -m versioned_msgs --help` works and `import versioned_msgs` loads no CLI/boto3."""
    proc = subprocess.run(
        [sys.executable, "-m", "versioned_msgs", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "versioned-msgs" in proc.stdout
    code = (
        "import sys, versioned_msgs; "
        "bad = [m for m in ('versioned_msgs._cli.main', 'boto3', 'argparse') if m in sys.modules]; "
        "print(bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_same_module_rewritten_is_reloaded(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """lock, edit the same file in place, check --lock: the edit is seen and fails the check."""
    mod = project("regs_inplace", GOOD)
    assert main(["lock", f"{mod}:registry", "--out", "inplace.lock"]) == 0
    assert main(["check", f"{mod}:registry", "--lock", "inplace.lock"]) == 0
    project(
        "regs_inplace",
        GOOD.replace(
            '    order_id: str\n    total: int\n\n@registry.message("order.created", version=2',
            '    order_id: str\n    total: str\n\n@registry.message("order.created", version=2',
        ),
    )
    capsys.readouterr()
    assert main(["check", f"{mod}:registry", "--lock", "inplace.lock"]) == 1
    out = capsys.readouterr().out
    assert "order.created v1: the model changed since the lock (field 'total' changed" in out


def test_module_raising_at_import(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A registry module that raises while imported fails (1); a syntax error is usage (2)."""
    mod = project("regs_raises", HEADER + "registry.message('Bad Name', version=1)\n")
    assert main(["check", f"{mod}:registry"]) == 1
    assert "importing 'regs_raises' raised RegistryError" in capsys.readouterr().err
    mod = project("regs_syntax", "def (:\n")
    assert main(["check", f"{mod}:registry"]) == 2
    assert "cannot import 'regs_syntax'" in capsys.readouterr().err


def test_model_without_json_schema(
    project: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A field type with no JSON schema is reported by name, not a traceback."""
    mod = project(
        "regs_noschema",
        HEADER
        + """
class Opaque:
    pass

@registry.message("blob.put", version=1)
class B1(msgspec.Struct):
    a: int

@registry.message("blob.put", version=2, readable_by=1)
class B2(msgspec.Struct):
    a: int
    b: Opaque | None = None

@registry.upgrader("blob.put", from_version=1)
def _up(d):
    return d
""",
    )
    assert main(["lock", f"{mod}:registry", "--out", "x.lock"]) == 1
    assert "blob.put v2: cannot build the JSON schema of B2" in capsys.readouterr().err
    assert main(["check", f"{mod}:registry"]) == 1
    assert "blob.put v2: cannot build the JSON schema of B2" in capsys.readouterr().out


def test_table_and_progress() -> None:
    """Tables align columns (numbers right); the progress bar draws only on a terminal."""
    import io

    from versioned_msgs._cli.console import Progress, table

    assert table(("name", "n"), [("a", 1), ("bbb", 22)]).splitlines() == [
        "name   n",
        "----  --",
        "a      1",
        "bbb   22",
    ]
    quiet = io.StringIO()
    p = Progress("x", total=2, stream=quiet)
    p.advance()
    p.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    p = Progress("upgrading", total=4, stream=loud, enabled=True)
    for _ in range(4):
        p.advance()
    p.close()
    text = loud.getvalue()
    assert text.startswith("\rupgrading [")
    assert "4/4" in text
    assert text.endswith("\n")


PLANTED = "import pathlib\npathlib.Path('planted-{name}-imported').touch()\nraise SystemExit(97)\n"


def test_planted_modules_in_the_current_directory_do_not_shadow_installed_ones(
    project: Callable[[str, str], str], tmp_path: Path
) -> None:
    """Loading MODULE:ATTR from the current directory leaves how every other name resolves
    alone: a boto3.py or msgspec.py there is not found before the installed package. The
    user's own module still imports its neighbours, and packages load as packages."""
    from importlib.machinery import PathFinder

    for name in ("boto3", "msgspec"):
        (tmp_path / f"{name}.py").write_text(PLANTED.format(name=name))
    project("regs_helper", "NOTE = 'from the helper'\n")
    mod = project("regs_planted", GOOD + "from regs_helper import NOTE\n")
    (tmp_path / "regs_pkg").mkdir()
    (tmp_path / "regs_pkg" / "__init__.py").write_text("")
    (tmp_path / "regs_pkg" / "models.py").write_text(GOOD)
    assert main(["check", f"{mod}:registry"]) == 0
    assert sys.modules[mod].NOTE == "from the helper"
    try:
        assert main(["check", "regs_pkg.models:registry"]) == 0
        assert sys.modules["regs_pkg"].__path__ == [str(tmp_path / "regs_pkg")]
    finally:
        for name in ("regs_pkg.models", "regs_pkg", "regs_helper"):
            sys.modules.pop(name, None)
    for name in ("boto3", "msgspec"):
        spec = PathFinder.find_spec(name, sys.path)
        assert spec is not None
        assert spec.origin is not None
        assert not spec.origin.startswith(str(tmp_path)), spec.origin
    assert not list(tmp_path.glob("planted-*"))


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_the_command_never_imports_a_planted_boto3(
    project: Callable[[str, str], str], tmp_path: Path, aws: Any, how: str
) -> None:
    """End to end: `versioned-msgs inspect QUEUE --registry MODULE:ATTR` run in a directory
    holding boto3.py (and msgspec.py) loads the user's registry from there, and the packages
    from where they are installed. (`python -m` imports msgspec, with the package itself,
    before any code of ours runs: a msgspec.py there is Python's doing, so it is planted for
    the console script only.)"""
    planted = ("boto3", "msgspec") if how == "console script" else ("boto3",)
    for name in planted:
        (tmp_path / f"{name}.py").write_text(PLANTED.format(name=name))
    mod = project("regs_script", GOOD)
    url = aws.client("sqs").create_queue(QueueName="planted")["QueueUrl"]
    command = (
        [str(Path(sys.executable).with_name("versioned-msgs"))]
        if how == "console script"
        else [sys.executable, "-m", "versioned_msgs"]
    )
    proc = subprocess.run(
        [*command, "inspect", url, "--registry", f"{mod}:registry"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert not list(tmp_path.glob("planted-*"))
    assert proc.returncode == 0, proc.stderr
    assert "peeked at 0" in proc.stdout
