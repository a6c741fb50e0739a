"""The CLI as a separate process, the way CI steps run it (`python -m mltoolkit`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``mltoolkit ARGS`` with the project's venv (else this interpreter); never raises."""
    python = str(PYTHON if PYTHON.exists() else sys.executable)
    return subprocess.run(
        [python, "-m", "mltoolkit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
