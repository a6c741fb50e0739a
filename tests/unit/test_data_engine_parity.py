"""DuckDB (GX's SQL engine) and pandas (GX's pandas engine) give the same results on the same file.

Every expectation type that ``--engine auto`` sends to DuckDB runs here on CSV and Parquet through
both engines, passing and failing, on data with nulls, duplicates and values out of range; the
verdicts, observed values, unexpected counts and examples must be equal, and so must the data
fingerprint. Real GX, real DuckDB, real pandas.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mltoolkit.data.file_engine import DUCKDB_EXPECTATIONS, choose_engine
from mltoolkit.data.gx_setup import quiet_gx
from mltoolkit.data.results import Outcome
from mltoolkit.data.run import validate
from mltoolkit.data.source import FileSource
from mltoolkit.data.suite import read_suite
from mltoolkit.errors import InputError

pytest.importorskip("duckdb")
pytest.importorskip("duckdb_engine")

ROWS = 240
COLUMNS = ["id", "amount", "currency", "merchant", "age", "is_fraud"]

SUITE = Path(__file__).parents[1] / "data" / "suites" / "engine_parity.yaml"


def rows() -> dict[str, list[Any]]:
    """Nulls, a duplicate id, amounts above 500, an unknown currency, ages 18..97."""
    ids = [*range(1, ROWS), 7]
    return {
        "id": ids,
        "amount": [None if i % 41 == 0 else float((i * 37) % 700) + 0.25 for i in ids],
        "currency": [
            None if i % 53 == 0 else ("XXX" if i % 31 == 0 else ("EUR", "USD", "GBP")[i % 3])
            for i in ids
        ],
        "merchant": [f"m{i % 60}" for i in ids],
        "age": [18 + (i * 7) % 80 for i in ids],
        "is_fraud": [int(i % 20 == 0) for i in ids],
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import pandas as pd

    quiet_gx()
    base = tmp_path_factory.mktemp("parity")
    frame = pd.DataFrame(rows())
    frame.to_csv(base / "tx.csv", index=False)
    frame.to_parquet(base / "tx.parquet", index=False)
    return {"csv": base / "tx.csv", "parquet": base / "tx.parquet", "suite": SUITE}


def both(files: dict[str, Path], kind: str) -> tuple[Outcome, Outcome]:
    suite = read_suite(files["suite"])
    pandas = validate(suite, FileSource(files[kind], kind, "pandas"))
    duckdb = validate(suite, FileSource(files[kind], kind, "duckdb"))
    return pandas, duckdb


# Expectations whose unexpected values are a set (GX lists them in no particular order).
SET_VALUED = {"expect_column_distinct_values_to_be_in_set"}


def duplicated(column: str) -> set[Any]:
    values = rows()[column]
    return {v for v in values if values.count(v) > 1}


def same(left: Any, right: Any) -> bool:
    """Equal, with floats compared to 1e-9 relative (SQL and numpy sum in different orders)."""
    if isinstance(left, float) or isinstance(right, float):
        if isinstance(left, int | float) and isinstance(right, int | float):
            return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
        return False
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def test_the_suite_covers_every_type_sent_to_duckdb(files: dict[str, Path]) -> None:
    suite = read_suite(files["suite"])
    types = [e.type for e in suite.expectations]
    assert set(types) == DUCKDB_EXPECTATIONS
    for kind in ("csv", "parquet"):
        chosen, why = choose_engine(suite, FileSource(files[kind], kind))
        assert (chosen.engine, why) == ("duckdb", None)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_duckdb_results_equal_pandas_results(files: dict[str, Path], kind: str) -> None:
    pandas, duckdb = both(files, kind)
    assert (pandas.engine, duckdb.engine) == ("pandas", "duckdb")
    assert duckdb.fingerprint == pandas.fingerprint
    statuses = [r.status for r in pandas.results]
    # Every type both passes and fails somewhere, and nothing errors: the comparison has teeth.
    assert "error" not in statuses
    assert statuses.count("passed") >= len(DUCKDB_EXPECTATIONS)
    assert statuses.count("failed") >= len(DUCKDB_EXPECTATIONS) - 1
    for left, right in zip(pandas.results, duckdb.results, strict=True):
        name = f"{left.expectation.index}: {left.expectation.describe()}"
        a, b = left.to_dict(), right.to_dict()
        for key in ("status", "error", "element_count", "unexpected_count"):
            assert a[key] == b[key], f"{name}: {key} {a[key]!r} != {b[key]!r}"
        for key in ("observed_value", "unexpected_percent"):
            assert same(a[key], b[key]), f"{name}: {key} {a[key]!r} != {b[key]!r}"
        left_examples, right_examples = a["unexpected_examples"], b["unexpected_examples"]
        if a["type"] in SET_VALUED:
            left_examples, right_examples = sorted(left_examples), sorted(right_examples)
        if a["type"] == "expect_column_values_to_be_unique" and a["status"] == "failed":
            # Which duplicates come first depends on the engine's grouping: both must be some.
            column = a["kwargs"]["column"]
            assert len(left_examples) == len(right_examples), name
            assert set(right_examples) <= duplicated(column), name
            assert set(left_examples) <= duplicated(column), name
            continue
        assert same(left_examples, right_examples), f"{name}: {left_examples} != {right_examples}"
    assert pandas.statistics() | {"seconds": 0} == duckdb.statistics() | {"seconds": 0}


def test_failing_examples_are_real_values(files: dict[str, Path]) -> None:
    _, duckdb = both(files, "parquet")
    by_line = {r.expectation.index: r for r in duckdb.results}
    out_of_range = by_line[17]  # amount between 0 and 500
    assert out_of_range.status == "failed"
    assert out_of_range.unexpected_examples
    assert all(v > 500 for v in out_of_range.unexpected_examples)
    unknown = by_line[20]  # currency in [EUR, USD]
    assert set(unknown.unexpected_examples) == {"GBP", "XXX"}


def test_a_suite_with_a_regex_falls_back_to_pandas_or_is_refused(
    files: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "regex.yaml"
    path.write_text(
        "name: rx\nexpectations:\n"
        "  - type: expect_column_values_to_not_be_null\n"
        "    kwargs: {column: merchant}\n"
        "  - type: expect_column_values_to_match_regex\n"
        "    kwargs: {column: merchant, regex: '^m[0-9]+$'}\n"
    )
    suite = read_suite(path)
    chosen, why = choose_engine(suite, FileSource(files["parquet"], "parquet"))
    assert chosen.engine == "pandas"
    assert why is not None and "expect_column_values_to_match_regex(merchant) (line 5)" in why
    with pytest.raises(InputError, match=r"regex.yaml:5: .*match_regex\(merchant\) cannot run on"):
        choose_engine(suite, FileSource(files["parquet"], "parquet", "duckdb"))
    outcome = validate(suite, FileSource(files["parquet"], "parquet"))
    assert outcome.engine == "pandas"
    assert [r.status for r in outcome.results] == ["passed", "passed"]


def test_a_check_the_database_cannot_compute_is_an_error_not_a_failure(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """GX reports a failing SQL metric under the metric's id: still an error, with its message."""
    path = tmp_path / "mean_of_text.yaml"
    path.write_text(
        "name: m\nexpectations:\n"
        "  - type: expect_column_mean_to_be_between\n"
        "    kwargs: {column: currency, min_value: 0}\n"
    )
    outcome = validate(read_suite(path), FileSource(files["parquet"], "parquet", "duckdb"))
    (result,) = outcome.results
    assert result.status == "error"
    assert result.error and "Binder Error: No function matches" in result.error


def test_a_parquet_directory_reads_the_same(files: dict[str, Path], tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows())
    folder = tmp_path / "dataset"
    folder.mkdir()
    frame.iloc[:100].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[100:].to_parquet(folder / "part-1.parquet", index=False)
    suite = read_suite(files["suite"])
    pandas = validate(suite, FileSource(folder, "parquet", "pandas"))
    duckdb = validate(suite, FileSource(folder, "parquet", "duckdb"))
    assert duckdb.fingerprint == pandas.fingerprint
    assert duckdb.fingerprint["kind"] == "directory"
    assert duckdb.fingerprint["row_count"] == ROWS
    assert [r.status for r in duckdb.results] == [r.status for r in pandas.results]
    assert [r.unexpected_count for r in duckdb.results] == [
        r.unexpected_count for r in pandas.results
    ]
