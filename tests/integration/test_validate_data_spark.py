"""``validate-data spark:PATH``: the shared suite on Parquet with pyspark in local mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip("pyspark")

SUITES = Path(__file__).parents[1] / "data" / "suites"


def test_shared_suite_on_parquet_with_spark_local(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = range(1, 401)
    table = pa.table(
        {
            "id": list(rows),
            "amount": [(i * 37 % 1000) + 0.5 for i in rows],
            "currency": [("EUR", "USD", "GBP")[i % 3] for i in rows],
            "merchant": [f"m{i % 50}" for i in rows],
            "is_fraud": [int(i % 20 == 0) for i in rows],
        }
    )
    folder = tmp_path / "tx"
    folder.mkdir()
    pq.write_table(table.slice(0, 200), folder / "part-0.parquet")
    pq.write_table(table.slice(200), folder / "part-1.parquet")
    report = tmp_path / "r.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltoolkit",
            "validate-data",
            "--suite",
            str(SUITES / "transactions_strict.yaml"),
            "--data",
            f"spark:{folder}",
            "--json",
            str(report),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLTOOLKIT_PLATFORM": "local", "MLTOOLKIT_SPARK_MASTER": "local[2]"},
    )
    # The strict suite fails the same way on Spark as on pandas and PostgreSQL.
    assert done.returncode == 1, done.stderr
    assert "205 unexpected of 400" in done.stderr
    doc = json.loads(report.read_text())
    assert doc["data"]["engine"] == "spark"
    assert [r["status"] for r in doc["results"]] == ["passed", "failed", "failed", "failed"]
    assert doc["results"][2]["unexpected_count"] == 133
    assert doc["fingerprint"]["kind"] == "directory"
    assert doc["fingerprint"]["files"] == 2
    assert doc["fingerprint"]["row_count"] == 400
    # Spark's console progress bars stay off.
    assert "[Stage" not in done.stderr
