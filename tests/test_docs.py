"""The documentation site builds strictly, and its code comes from tested files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$", re.MULTILINE)
# Languages whose blocks must be includes of tested files: code a reader would copy.
CODE_LANGUAGES = {"python", "py", "yaml", "yml", "toml"}


def _blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block in a Markdown page."""
    found: list[tuple[str, str]] = []
    pos = 0
    while (m := FENCE.search(text, pos)) is not None:
        close = re.compile(rf"^{m['indent']}{m['fence']}\s*$", re.MULTILINE)
        end = close.search(text, m.end())
        assert end is not None, f"unclosed code fence at offset {m.start()}"
        found.append((m["info"].strip(), text[m.end() : end.start()]))
        pos = end.end()
    return found


def test_mkdocs_build_is_strict_clean(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds: no broken link, missing page or missing include."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "api" / "index.html").is_file()


def test_code_blocks_are_included_from_files() -> None:
    """Every Python/YAML/TOML block in the docs is a `--8<--` include, never pasted code."""
    pasted: list[str] = []
    for page in sorted(DOCS.rglob("*.md")):
        for info, body in _blocks(page.read_text(encoding="utf-8")):
            language = info.split()[0].lower() if info else ""
            if language not in CODE_LANGUAGES:
                continue
            lines = [line.strip() for line in body.splitlines() if line.strip()]
            if not lines or not all(line.startswith("--8<--") for line in lines):
                pasted.append(f"{page.relative_to(ROOT)}: {info!r} block {body.strip()[:60]!r}")
    assert pasted == [], "code pasted into the docs instead of included:\n" + "\n".join(pasted)


def test_every_example_is_shown_in_the_docs() -> None:
    """Each file in examples/ is included by at least one page, so none goes stale unseen."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    included = set(re.findall(r'--8<--\s+"(examples/[^":]+)', text))
    examples = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "examples").rglob("*")
        if p.is_file() and p.suffix in {".py", ".yaml"} and "__pycache__" not in p.parts
    }
    assert examples - included == set()


def test_readme_example_is_the_tested_example() -> None:
    """The README's Python block is, line for line, the `readme` section of examples/readme.py."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [body for info, body in _blocks(readme) if info == "python"]
    source = (ROOT / "examples" / "readme.py").read_text(encoding="utf-8")
    start = source.index("# --8<-- [start:readme]\n") + len("# --8<-- [start:readme]\n")
    section = source[start : source.index("# --8<-- [end:readme]")]
    assert len(blocks) == 1
    assert blocks[0].strip("\n") == section.strip("\n")
    code_lines = [line for line in section.splitlines() if line.strip()]
    assert len(code_lines) <= 16, f"the README example grew to {len(code_lines)} lines"


def _section(path: Path, name: str) -> str:
    """The lines between `--8<-- [start:name]` and `[end:name]`, other markers removed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"# --8<-- [start:{name}]")
    end = lines.index(f"# --8<-- [end:{name}]")
    return "\n".join(line for line in lines[start + 1 : end] if "--8<-- [" not in line) + "\n"


def test_quick_start_files_run_as_shown_in_an_empty_folder(tmp_path: Path) -> None:
    """The quick start's three files, assembled from exactly the shown sections, pass pytest."""
    examples = ROOT / "examples"
    page = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    shown = re.findall(r'--8<-- "examples/(quickstart\.py|test_quickstart\.py)(?::(\w+))?"', page)
    files: dict[str, str] = {}
    for name, section in shown:
        text = _section(examples / name, section) if section else (examples / name).read_text()
        files[name] = files.get(name, "") + ("\n\n" if name in files else "") + text
    files["quickstart_publish.py"] = (examples / "quickstart_publish.py").read_text()
    assert sorted(files) == ["quickstart.py", "quickstart_publish.py", "test_quickstart.py"]
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_quickstart.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_every_public_name_has_a_reference_entry() -> None:
    """Each name in `versioned_msgs.__all__` is documented once, on the API or errors page."""
    import versioned_msgs

    text = "\n".join(
        (DOCS / "reference" / page).read_text(encoding="utf-8") for page in ("api.md", "errors.md")
    )
    entries = re.findall(r"^::: versioned_msgs\.(\w+)\s*$", text, re.MULTILINE)
    public = [name for name in versioned_msgs.__all__ if name != "__version__"]
    assert sorted(n for n in entries if n in public) == sorted(public)
