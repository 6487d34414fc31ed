"""The documentation's examples run, and every Python block in the pages comes from one.

Every `docs_src/**/*.py` file is run in its own interpreter (found by glob, so a new example
is covered without touching this file) and must exit 0 within a timeout. An example whose
source ends with an `# Output:` comment block must print those lines, in that order (`...`
in a line matches anything). Examples that read `ASYNCZ_QUEUE_DSN` run against the
throwaway PostgreSQL server of `tests/pg_cluster.py`, each in a database of its own.
Examples that import a package which is not installed (an ASGI framework, say) are skipped
with the package's name.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCS_SRC = ROOT / "docs_src"
TIMEOUT = 30.0

EXAMPLES = sorted(DOCS_SRC.rglob("*.py"))
PAGES = sorted(DOCS.rglob("*.md"))

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n]*)$")
_INCLUDE = re.compile(r"""^\s*-{1,}8<-{1,}\s+(?P<quote>["'])(?P<target>[^"']+)(?P=quote)\s*$""")
_PYTHON_LANGS = {"python", "py", "python3", "pycon"}


def _example_id(path: Path) -> str:
    return path.relative_to(DOCS_SRC).as_posix()


def _expected_output(source: str) -> list[str]:
    """The lines of the trailing `# Output:` comment block, if the example has one."""
    lines = source.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "# Output:":
            expected = []
            for comment in lines[index + 1 :]:
                if not comment.startswith("#"):
                    break
                expected.append(comment[2:] if comment.startswith("# ") else comment[1:])
            return expected
    return []


def _matches(pattern: str, line: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line.rstrip()) is not None


def _imports(path: Path) -> set[str]:
    """The top-level module names the example imports at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _siblings(path: Path) -> list[Path]:
    """The modules next to the example that it imports (its own application module)."""
    return [path.parent / f"{name}.py" for name in sorted(_imports(path))
            if (path.parent / f"{name}.py").exists()]  # fmt: skip


def _missing_modules(path: Path) -> list[str]:
    """Top-level imports of the example that are neither installed nor sibling modules."""
    missing = []
    for name in sorted(_imports(path)):
        if (path.parent / f"{name}.py").exists() or (path.parent / name).is_dir():
            continue
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    return missing


def _uses_postgres(path: Path) -> bool:
    """Whether the example (or a sibling module it imports) reads `ASYNCZ_QUEUE_DSN`."""
    return any(
        "ASYNCZ_QUEUE_DSN" in source.read_text(encoding="utf-8")
        for source in [path, *_siblings(path)]
    )


@contextlib.contextmanager
def _fresh_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A DSN of a new, empty database on the test server, dropped afterwards.

    Each Postgres example gets its own database, so that what one leaves behind (durable
    tasks, finished jobs) cannot change what the next one prints.
    """
    try:
        server_dsn = request.getfixturevalue("postgres_dsn")
    except pytest.FixtureLookupError:
        pytest.skip("the postgres_dsn fixture (tests/pg_cluster.py) is not available")
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"docs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.mark.parametrize("path", EXAMPLES, ids=_example_id)
def test_example_runs(path: Path, request: pytest.FixtureRequest) -> None:
    source = path.read_text(encoding="utf-8")
    missing = _missing_modules(path)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, which is not installed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(path.parent)])}
    env.pop("ASYNCZ_QUEUE_DSN", None)
    with contextlib.ExitStack() as stack:
        if _uses_postgres(path):
            env["ASYNCZ_QUEUE_DSN"] = stack.enter_context(_fresh_database(request))
        completed = subprocess.run(
            [sys.executable, str(path)],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    assert completed.returncode == 0, (
        f"{_example_id(path)} exited with {completed.returncode}\n"
        f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    )
    printed = completed.stdout.splitlines()
    position = 0
    for expected in _expected_output(source):
        while position < len(printed) and not _matches(expected, printed[position]):
            position += 1
        assert position < len(printed), (
            f"{_example_id(path)} did not print {expected!r} (in order)\n"
            f"--- stdout ---\n{completed.stdout}"
        )
        position += 1


def _fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """`(line number, info string, body lines)` of every fenced block of a page."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, start = match["fence"], index
        body = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        blocks.append((start + 1, match["info"].strip(), body))
        index += 1
    return blocks


def _includes(text: str) -> list[str]:
    return [m["target"] for line in text.splitlines() if (m := _INCLUDE.match(line))]


def _include_path(target: str) -> Path:
    # `file.py`, `file.py:section` or `file.py:10:20` (snippets' line ranges).
    name = target.split(":", 1)[0]
    return DOCS_SRC / name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_includes_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in _includes(text):
        path = _include_path(target)
        assert path.is_file(), f"{page.name} includes {target!r}, but {path} does not exist"
        if ":" in target:
            section = target.split(":", 1)[1]
            if not section.replace(":", "").lstrip("-").isdigit():
                assert f"[start:{section}]" in path.read_text(encoding="utf-8"), (
                    f"{page.name} includes section {section!r} that {path.name} does not mark"
                )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_python_blocks_are_included_examples(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for line, info, body in _fenced_blocks(text):
        language = info.split()[0].lstrip(".{").lower() if info else ""
        if language not in _PYTHON_LANGS:
            continue
        code = [row for row in body if row.strip()]
        assert code, f"{page.name}:{line}: empty python block"
        inline = [row for row in code if not _INCLUDE.match(row)]
        assert not inline, (
            f"{page.name}:{line}: a python block must only include a docs_src/ file "
            f'(--8<-- "file.py"), found inline code: {inline[0]!r}'
        )


def test_every_example_is_shown_somewhere() -> None:
    shown = {
        _include_path(target).resolve()
        for page in PAGES
        for target in _includes(page.read_text(encoding="utf-8"))
    }
    helpers = {path for path in EXAMPLES if path.name.startswith("_")}
    unused = [_example_id(p) for p in EXAMPLES if p.resolve() not in shown and p not in helpers]
    assert not unused, f"examples no page includes: {unused}"
