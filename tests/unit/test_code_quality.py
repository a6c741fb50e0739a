"""The package stays ruff-clean and mypy --strict clean (pyproject.toml holds both settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed in {BIN}: pip install -e '.[dev]'")
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "mltoolkit", "tests", "bench", "actions/lib")
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = _run("ruff", "format", "--check", "mltoolkit")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy", "mltoolkit")
    assert result.returncode == 0, result.stdout + result.stderr
