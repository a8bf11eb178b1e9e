"""The front ends stay front ends: `indexer/cli/**` and `indexer/web/**` call
Database-taking library verbs and hold no database machinery themselves.

Neither imports `sqlalchemy` or `indexer.db.models` (imports read with `ast`,
relative ones resolved against the module's package), nor opens a session
(no `.session(` in their source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import indexer

PACKAGE = Path(indexer.__file__).resolve().parent
FRONT_ENDS = ("cli", "web")
FORBIDDEN = ("sqlalchemy", "indexer.db.models")


def _front_end_modules() -> list[Path]:
    return sorted(p for name in FRONT_ENDS for p in (PACKAGE / name).rglob("*.py"))


def _module_package(path: Path) -> list[str]:
    """The dotted package a module lives in (`indexer.cli.commands` for
    indexer/cli/commands/show.py; a package's __init__ is in itself)."""
    parts = ["indexer", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1]


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, absolute: `import a.b` gives a.b;
    `from ..db import models` in indexer/cli/app.py gives indexer.db and
    indexer.db.models (the imported name may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _module_package(path)
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_resolver_reads_relative_imports():
    show = PACKAGE / "cli" / "commands" / "show.py"
    assert "indexer.analysis.curation" in imported_names(show)
    assert "indexer.cli.app" in imported_names(show)
    assert _forbidden("indexer.db.models") and _forbidden("sqlalchemy.exc") and not _forbidden("indexer.db")


@pytest.mark.parametrize("path", _front_end_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_front_ends_import_no_sqlalchemy_or_models(path):
    bad = sorted(n for n in imported_names(path) if _forbidden(n))
    assert not bad, f"{path.relative_to(PACKAGE)} imports {', '.join(bad)}: call a library verb instead"


@pytest.mark.parametrize("path", _front_end_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_front_ends_open_no_sessions(path):
    lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ".session(" in line]
    assert not lines, (f"{path.relative_to(PACKAGE)} opens a session (line {', '.join(map(str, lines))}): "
                       "call a Database-taking library verb instead")


def test_there_are_front_end_modules_to_check():
    names = {p.name for p in _front_end_modules()}
    assert {"app.py", "routes.py", "show.py", "flagged.py"} <= names
