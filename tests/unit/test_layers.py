"""Imports point inward (graph -> domain <- persistence); only the composition root knows both sides."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each package may not import. graph/main.py is the entry point: it hands the settings to
# the composition root, so it alone in graph may import bootstrap.
FORBIDDEN = {
    "domain": {"graph", "persistence", "bootstrap"},
    "persistence": {"graph", "bootstrap"},
    "graph": {"persistence", "bootstrap"},
}
ENTRY_POINTS = {Path("graph/main.py"): {"persistence"}}


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_inward(package: str) -> None:
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        forbidden = ENTRY_POINTS.get(relative, FORBIDDEN[package])
        if bad := _imported(path) & forbidden:
            wrong[str(relative)] = sorted(bad)
    assert not wrong, wrong


def test_no_module_but_the_settings_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for package in ("domain", "persistence", "graph", "bootstrap")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert readers == []
