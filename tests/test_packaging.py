"""What a user installs is what the tests run: every package folder is
declared, and a built wheel carries the migrations, the policy and the demo."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _declared_packages() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}


def test_every_package_folder_is_declared_in_setup_cfg():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "indexer").rglob("__init__.py")}
    found |= {"indexer." + ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "migrations").rglob("__init__.py")}
    assert found == _declared_packages()


def test_no_module_under_indexer_imports_test_code():
    """The tests' servers and helpers (tests/*.py) extend production code, never the other way round."""
    test_modules = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    offenders = []
    for path in (ROOT / "indexer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in test_modules]
    assert offenders == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("mbindex-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_migrations_policy_and_demo(wheel):
    names = set(wheel.namelist())
    versions = {p.name for p in (ROOT / "migrations" / "versions").glob("0*.py")}
    assert {"indexer/migrations/env.py", "indexer/migrations/script.py.mako",
            "indexer/analysis/risk_policy.toml", "indexer/demo/SOURCES.md"} <= names
    assert {f"indexer/migrations/versions/{v}" for v in versions} <= names
    demo = {p.name for p in (ROOT / "indexer" / "demo" / "release").glob("*.json")}
    assert demo and {f"indexer/demo/release/{d}" for d in demo} <= names
    assert not any(n.startswith(("migrations/", "tests/")) for n in names)


def test_the_wheel_carries_the_web_templates_and_assets(wheel):
    names = set(wheel.namelist())
    web = ROOT / "indexer" / "web"
    shipped = {p.relative_to(ROOT).as_posix() for d in ("templates", "static") for p in (web / d).iterdir()}
    assert shipped and shipped <= names
