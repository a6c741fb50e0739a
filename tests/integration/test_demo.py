"""The README's first command, `scripts/demo`, run for real on this machine's services: the
card-fraud example from data to production with the refusal shown, then a second run that
reuses what the first one made."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parents[1]


def _demo(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, (
        f"scripts/demo {' '.join(args)}:\n{proc.stdout[-4000:]}{proc.stderr}"
    )
    return proc.stdout


def _gate_rows(output: str) -> dict[str, str]:
    """The final gate table: gate name -> result column."""
    table = output.split("Gates for card-fraud version 1 -> production\n", 1)[1]
    rows = {}
    for line in table.splitlines()[1:]:
        if not line.strip():
            break
        match = re.match(r"(\S+(?: \S+)?)\s{2,}.*\s(PASS|FAIL)\s", line)
        assert match, line
        rows[match.group(1)] = match.group(2)
    return rows


def test_the_demo_reaches_production_then_reuses_its_work(
    services: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "demo"
    env = {
        **os.environ,
        "MLTOOLKIT_DEMO_DIR": str(state),
        "MLTOOLKIT_VENV": str(VENV),
        # The serving image's wheels: the cache the example's own e2e tests use, kept between runs.
        "CARD_FRAUD_PIP_CACHE": os.environ.get(
            "CARD_FRAUD_PIP_CACHE", str(Path.home() / ".cache" / "card-fraud")
        ),
    }
    first = _demo(env, "--fresh")
    assert "[23/23] Release page" in first
    assert "skipped" not in first
    # The refusal is shown with the gate that refused and why.
    assert "refused as expected (exit 1)" in first
    assert re.search(r"\| approvals .* FAIL +2 approvals short", first), first
    assert "approved by release-manager-1 and release-manager-2" in first
    assert "Promoted card-fraud version 1 to production" in first
    rows = _gate_rows(first)
    assert {"image", "signature", "sbom", "vulnerability-scan", "approvals", "audit log"} <= set(
        rows
    )
    assert set(rows.values()) == {"PASS"}, rows
    assert f"report page: {state / 'report.html'}" in first
    assert "card-fraud" in (state / "report.html").read_text()

    # The audit trail the demo left verifies on its own, with the demo's policy and store.
    audit = subprocess.run(
        [str(VENV / "bin" / "mltoolkit"), "audit", "card-fraud"],
        env={
            **env,
            "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
            "MLTOOLKIT_POLICY": str(state / "mltoolkit.yaml"),
            "MLTOOLKIT_AUDIT_LOG": str(state / "audit.jsonl"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stderr
    assert "2 entries, chain intact, every entry signed by a trusted key" in audit.stdout

    second = _demo(env)
    assert "skipped" not in second
    for reused in (
        f"reused {VENV}",
        "reused ci, release-manager-1, release-manager-2",
        "reused run ",
        f"reused {state / 'data' / 'transactions.csv'}",
    ):
        assert reused in second, reused
    assert "card-fraud version 1 is already in production" in second
    assert "not needed: version 1 is already in production" in second
