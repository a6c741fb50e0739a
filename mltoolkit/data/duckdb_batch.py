"""A CSV or Parquet file under GX's SQL execution engine, run by DuckDB (the ``data`` extra).

DuckDB scans the file in place, vectorised and on every core; GX sends it a few aggregate
queries instead of copying a pandas frame per expectation, and the client never holds the rows.

Why each connection hands out fresh DuckDB cursors: duckdb-engine's DB-API cursors share their
connection's single result set, and GX fetches a metric's rows *after* leaving its
``with engine.connect()`` block, whose ROLLBACK replaces that result set (GX then reads no row
at all). A DuckDB cursor (``DuckDBPyConnection.cursor()``) has a result set of its own, so the
rows outlive the connection's transaction. This goes through SQLAlchemy's ``creator`` hook,
which GX passes on from the data source's ``kwargs``; GX itself is not touched.
"""

from __future__ import annotations

from typing import Any

from mltoolkit.data.source import FileSource

VIEW = "data"
# The engine SQLAlchemy builds for GX; ``creator`` supplies the actual DuckDB connections.
URL = "duckdb:///:memory:"
# The types DuckDB may infer for CSV columns: those pandas' read_csv infers (no dates or times,
# which pandas leaves as strings), so that both engines see the same values.
_CSV_TYPES = "['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR']"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scan_sql(source: FileSource) -> str:
    """The SELECT that reads ``source`` (a Parquet file or directory, or a CSV file)."""
    if source.format == "csv":
        return (
            f"SELECT * FROM read_csv({_literal(str(source.path))}, header = true, "  # noqa: S608
            f"auto_type_candidates = {_CSV_TYPES})"
        )
    path = source.path / "**" / "*.parquet" if source.path.is_dir() else source.path
    return f"SELECT * FROM read_parquet({_literal(str(path))})"  # noqa: S608


class _Connection:
    """duckdb-engine's DB-API connection, except that each cursor is a DuckDB cursor of its own."""

    def __init__(self, raw: Any) -> None:
        from duckdb_engine import ConnectionWrapper

        self._raw = raw
        self._wrapper = ConnectionWrapper(raw)

    def cursor(self) -> Any:
        """A cursor whose result set no later statement on this connection can replace."""
        from duckdb_engine import CursorWrapper

        return CursorWrapper(self._raw.cursor(), self._wrapper)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapper, name)


def connect(source: FileSource) -> Any:
    """A new in-memory DuckDB database with the view ``data`` over ``source`` (raw connection)."""
    import os
    import tempfile

    import duckdb

    # DuckDB spills what exceeds its memory limit to ./.tmp by default: not into the checkout.
    spill = os.path.join(tempfile.gettempdir(), f"mltoolkit-duckdb-{os.getpid()}")
    conn = duckdb.connect(":memory:", config={"temp_directory": spill})
    conn.execute(f"CREATE VIEW {VIEW} AS {scan_sql(source)}")
    return conn


def row_count(source: FileSource) -> int:
    """The number of rows DuckDB reads from ``source`` (Parquet: from the footers)."""
    conn = connect(source)
    try:
        found = conn.execute(f"SELECT count(*) FROM {VIEW}").fetchone()  # noqa: S608
    finally:
        conn.close()
    return int(found[0]) if found else 0


def add_asset(context: Any, source: FileSource, name: str) -> Any:
    """The GX table asset ``name`` over the view of ``source``, on GX's SQL engine."""
    datasource = context.data_sources.add_sql(
        "duckdb",
        connection_string=URL,
        kwargs={"creator": lambda: _Connection(connect(source))},
    )
    return datasource.add_table_asset(name, table_name=VIEW)
