"""Which engine evaluates a suite on a CSV or Parquet file: pandas, or GX's SQL engine on DuckDB.

``--engine auto`` (the default) takes DuckDB when the ``data`` extra installed it and every
expectation of the suite is one whose DuckDB results are known to equal pandas' (the list below is
what tests/unit/test_data_engine_parity.py checks); otherwise pandas, with a log line saying why.
``--engine duckdb`` refuses such a suite instead (exit 2, naming the expectation).
"""

from __future__ import annotations

import dataclasses
import importlib.util

from mltoolkit.data.source import DataSource, FileSource
from mltoolkit.data.suite import Expectation, Suite
from mltoolkit.errors import InputError

ENGINES = ("auto", "pandas", "duckdb")

# Expectation types whose verdict, observed value, unexpected count and examples on DuckDB equal
# those of GX's pandas engine (checked type by type in test_data_engine_parity.py). Not regexes:
# GX 1.24 has no regex expression for the duckdb dialect ("Regex is not supported").
DUCKDB_EXPECTATIONS = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_unique",
        "expect_column_value_lengths_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_unique_value_count_to_be_between",
    }
)


def duckdb_installed() -> bool:
    """True when ``duckdb`` and its SQLAlchemy dialect ``duckdb_engine`` can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("duckdb", "duckdb_engine"))


def not_on_duckdb(suite: Suite) -> Expectation | None:
    """The first expectation of ``suite`` that DuckDB is not known to evaluate like pandas."""
    for exp in suite.expectations:
        # A row_condition is written for one engine's parser (pandas or Spark syntax).
        if exp.type not in DUCKDB_EXPECTATIONS or exp.kwargs.get("row_condition"):
            return exp
    return None


def choose_engine(suite: Suite, source: DataSource) -> tuple[DataSource, str | None]:
    """``source`` with its engine settled (pandas or duckdb), and why auto chose pandas if it did.

    InputError (exit 2) when ``--engine duckdb`` cannot be honoured.
    """
    if not isinstance(source, FileSource) or source.engine == "pandas":
        return source, None
    missing = not duckdb_installed()
    odd = not_on_duckdb(suite)
    if source.engine == "duckdb":
        if missing:
            raise InputError(
                "--engine duckdb needs the duckdb and duckdb-engine packages",
                where=source.label,
                fix="pip install 'mltoolkit[data]', or pass --engine pandas",
            )
        if odd is not None:
            raise InputError(
                f"{suite.path}:{odd.line}: {odd.describe()} cannot run on DuckDB"
                + (" (row_condition)" if odd.kwargs.get("row_condition") else ""),
                where=source.label,
                fix="pass --engine pandas (or --engine auto, which falls back to pandas)",
            )
        return source, None
    if missing:
        return dataclasses.replace(source, engine="pandas"), None
    if odd is not None:
        why = f"{odd.describe()} (line {odd.line}) has no DuckDB-equivalent check: using pandas"
        return dataclasses.replace(source, engine="pandas"), why
    return dataclasses.replace(source, engine="duckdb"), None
