"""The house rules of docs/DEVELOPING.md that a machine can check: every
module is on the map, no module over 600 lines, no function over 80."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "indexer"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _layout_sections() -> dict[str, str]:
    """The layout block of DEVELOPING.md cut into one text per folder of
    `indexer/` (the top level under the key "")."""
    text = (ROOT / "docs" / "DEVELOPING.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    sections: dict[str, list[str]] = {"": []}
    stack: list[tuple[int, str]] = []  # (indent, folder path)
    for line in block.splitlines():
        m = re.match(r"^( *)([\w.]+)/(?:\s|$)", line)
        if m and m.group(2) != "indexer":
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if indent > 4 or not stack:  # a folder of indexer/ (migrations/ sits at the top: kept apart)
                path = "/".join([s[1] for s in stack] + [m.group(2)])
                stack.append((indent, m.group(2)))
                sections.setdefault(path, []).append(line)
                continue
        while stack and line.strip() and len(line) - len(line.lstrip()) <= stack[-1][0]:
            stack.pop()
        key = "/".join(s[1] for s in stack)
        sections.setdefault(key, []).append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def test_every_module_is_on_the_map():
    sections = _layout_sections()
    missing = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" and len(rel.parts) > 1:
            continue  # a package's own docstring; the folder is on the map
        folder = "/".join(rel.parts[:-1])
        if not re.search(rf"(?<![\w.]){re.escape(rel.name)}(?!\w)", sections.get(folder, "")):
            missing.append(str(rel))
    assert not missing, f"modules not named in DEVELOPING.md's layout (under their folder): {missing}"


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_80_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long
