"""The code stays ruff-clean and the layers keep pointing inward."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "bot",
            "flows",
            "integrations",
            "tests",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_imports_point_inward() -> None:
    for path in (ROOT / "flows").rglob("*.py"):
        assert not _imports(path) & {"bot", "integrations", "aiosqlite", "sqlite3", "asyncio"}, path
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name == "cli.py":
            continue  # the command line is where channels are started
        assert "integrations" not in _imports(path), path
