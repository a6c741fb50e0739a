"""``validate-data --engine auto|pandas|duckdb`` on files: which engine ran, shown in the result.

The CLI runs in this process on files the tests write; real GX, DuckDB and pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mltoolkit.cli import main as cli_main

pytest.importorskip("duckdb")
pytest.importorskip("duckdb_engine")

SUITES = Path(__file__).parents[1] / "data" / "suites"


@pytest.fixture(autouse=True)
def _local_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "local")


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    import pandas as pd

    rows = range(1, 301)
    frame = pd.DataFrame(
        {
            "id": list(rows),
            "amount": [(i * 37 % 1000) + 0.5 for i in rows],
            "currency": [("EUR", "USD", "GBP", "JPY")[i % 4] for i in rows],
            "merchant": [f"m{i % 50}" for i in rows],
            "is_fraud": [int(i % 20 == 0) for i in rows],
        }
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path, index=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        cli_main.main(["validate-data", *args])
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suite: str, data: Path, *extra: str
) -> tuple[int, dict[str, object], str]:
    report = tmp_path / "r.json"
    report.unlink(missing_ok=True)
    code, _, err = run(
        capsys, "--suite", str(SUITES / suite), "--data", str(data), "--json", str(report), *extra
    )
    return code, json.loads(report.read_text()), err


def test_auto_runs_duckdb_and_pandas_is_forced_with_the_same_result(
    parquet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, duck, err = result(capsys, tmp_path, "transactions_strict.yaml", parquet)
    assert code == 1
    assert duck["data"] == {"source": str(parquet), "engine": "duckdb"}
    assert f"validating {parquet} (duckdb)" in err
    code, pandas, err = result(
        capsys, tmp_path, "transactions_strict.yaml", parquet, "--engine", "pandas"
    )
    assert code == 1
    assert pandas["data"] == {"source": str(parquet), "engine": "pandas"}
    assert duck["fingerprint"] == pandas["fingerprint"]
    assert duck["results"] == pandas["results"]
    assert "JPY" in duck["results"][2]["unexpected_examples"]  # type: ignore[index]


def test_auto_falls_back_to_pandas_for_a_check_duckdb_lacks(
    parquet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, doc, err = result(capsys, tmp_path, "transactions.yaml", parquet)
    assert code == 1, err  # JPY is not an allowed currency
    assert doc["data"] == {"source": str(parquet), "engine": "pandas"}
    assert "expect_column_values_to_match_regex(merchant) (line 20)" in err
    assert "using pandas" in err


def test_forcing_duckdb_on_such_a_suite_exits_2_naming_the_expectation(
    parquet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = SUITES / "transactions.yaml"
    code, out, err = run(
        capsys, "--suite", str(suite), "--data", str(parquet), "--engine", "duckdb"
    )
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert f"{suite}:20: expect_column_values_to_match_regex(merchant) cannot run on DuckDB" in line
    assert "--engine pandas" in line
    assert out == ""


def test_engine_applies_to_files_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions.yaml"),
        "--data",
        "postgresql://u@127.0.0.1:1/db?table=t",
        "--engine",
        "duckdb",
    )
    assert code == 2
    assert "--engine duckdb applies to CSV/Parquet files only" in err


def test_unreadable_file_on_duckdb_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet PAR1")
    code, _, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions_strict.yaml"),
        "--data",
        str(garbage),
        "--engine",
        "duckdb",
    )
    assert code == 2
    assert "cannot read the data as parquet" in err
    assert "Traceback" not in err
