"""The data under GX: a pandas DataFrame or a DuckDB view over a file, a PostgreSQL table or
query, or a Spark DataFrame.

Each opener checks that the data can be read (InputError, exit 2, when it cannot), lists its
columns without reading the rows where the engine allows, fingerprints it and hands GX a batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mltoolkit.data.fingerprint import path_fingerprint, sql_checksum_query, sql_fingerprint
from mltoolkit.data.source import DataSource, FileSource, SparkSource, SqlSource
from mltoolkit.errors import ExternalError, InputError

ASSET = "data"


@dataclass
class Batch:
    """What GX validates, and what we know about it."""

    definition: Any
    parameters: dict[str, Any]
    columns: list[str]
    fingerprint: dict[str, Any]
    closers: list[Callable[[], None]] = field(default_factory=list)


@contextmanager
def open_batch(
    context: Any, source: DataSource, needed: list[str] | None = None
) -> Iterator[Batch]:
    """A batch of ``source`` registered in the GX ``context``; resources closed on exit.

    ``needed`` names the columns the suite reads (None: all); file sources load only those.
    """
    if isinstance(source, FileSource) and source.engine == "duckdb":
        batch = _duckdb_batch(context, source)
    elif isinstance(source, FileSource):
        batch = _pandas_batch(context, source, needed)
    elif isinstance(source, SqlSource):
        batch = _sql_batch(context, source)
    else:
        batch = _spark_batch(context, source)
    try:
        yield batch
    finally:
        for close in reversed(batch.closers):
            close()


def _unreadable(source: FileSource, exc: Exception) -> InputError:
    """The one line for a file that pandas or DuckDB cannot read."""
    return InputError(
        f"cannot read the data as {source.format}: {_one_line(exc)}",
        where=source.label,
        fix=f"check that it is a valid {source.format} file",
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


# -- pandas ----------------------------------------------------------------------------------


def _pandas_batch(context: Any, source: FileSource, needed: list[str] | None) -> Batch:
    """Only the columns the suite reads are loaded (all of them when it checks the table's)."""
    import pandas as pd  # type: ignore[import-untyped]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema = _file_schema(source)
            columns = [name for name, _ in schema]
            wanted = _projection(columns, needed)
            if source.format == "csv":
                frame = pd.read_csv(source.path, usecols=wanted)
            else:
                frame = _read_parquet(source, wanted)
    except InputError:
        raise
    except MemoryError:
        raise ExternalError(
            "not enough memory to load the data with pandas",
            where=source.label,
            fix="validate it with spark:PATH or in the database",
        ) from None
    except Exception as exc:
        raise _unreadable(source, exc) from None
    asset = context.data_sources.add_pandas("pandas").add_dataframe_asset(ASSET)
    fingerprint = path_fingerprint(source.path, source.format) | {"row_count": len(frame)}
    fingerprint["schema"] = [{"name": name, "type": kind} for name, kind in schema]
    return Batch(
        definition=asset.add_batch_definition_whole_dataframe("all"),
        parameters={"dataframe": frame},
        columns=columns,
        fingerprint=fingerprint,
    )


def _read_parquet(source: FileSource, columns: list[str] | None) -> Any:
    """Parquet into pandas with Arrow-backed strings: no Python object per string value, which
    makes reading several times faster and the frame smaller, with the same GX results."""
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    strings = pd.StringDtype("pyarrow")
    mapping = {pa.string(): strings, pa.large_string(): strings}
    table = pq.read_table(source.path, columns=columns)
    # self_destruct frees the Arrow buffers as they are converted. No split_blocks: GX copies
    # and filters the frame many times, and pandas would re-consolidate the blocks each time.
    return table.to_pandas(types_mapper=mapping.get, self_destruct=True)


def _projection(columns: list[str], needed: list[str] | None) -> list[str] | None:
    """The columns to load: None for all; at least one, so that row counts still work."""
    if needed is None:
        return None
    present = [c for c in columns if c in needed]
    missing = [c for c in needed if c not in columns]
    if missing:
        return None  # require_columns names the missing column with its suite line
    return present or columns[:1]


def _file_schema(source: FileSource) -> list[tuple[str, str]]:
    """Column names and types from the file's header or Parquet footer (no rows read)."""
    if source.format == "parquet":
        import pyarrow.dataset as ds  # type: ignore[import-untyped]

        schema = ds.dataset(source.path, format="parquet").schema
        return [(field.name, str(field.type)) for field in schema]
    import pandas as pd

    header = pd.read_csv(source.path, nrows=0)
    return [(str(name), "") for name in header.columns]


# -- DuckDB (GX's SQL engine over the file) ---------------------------------------------------


def _duckdb_batch(context: Any, source: FileSource) -> Batch:
    """The same fingerprint as the pandas batch (file sha256, row count, file schema)."""
    from mltoolkit.data import duckdb_batch

    try:
        schema = _file_schema(source)
        rows = duckdb_batch.row_count(source)
    except Exception as exc:
        raise _unreadable(source, exc) from None
    asset = duckdb_batch.add_asset(context, source, ASSET)
    fingerprint = path_fingerprint(source.path, source.format) | {"row_count": rows}
    fingerprint["schema"] = [{"name": name, "type": kind} for name, kind in schema]
    return Batch(
        definition=asset.add_batch_definition_whole_table("all"),
        parameters={},
        columns=[name for name, _ in schema],
        fingerprint=fingerprint,
    )


# -- PostgreSQL ------------------------------------------------------------------------------


def _sql_batch(context: Any, source: SqlSource) -> Batch:
    import sqlalchemy as sa

    engine = sa.create_engine(source.sqlalchemy_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            relation, schema = _sql_relation(conn, source)
            row = conn.execute(sa.text(sql_checksum_query(relation))).one()
    except InputError:
        engine.dispose()
        raise
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise ExternalError(
            f"cannot reach PostgreSQL: {_one_line(exc.orig or exc)}",
            where=source.label,
            fix="check that the server runs and that PGPASSWORD/~/.pgpass hold the password",
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise InputError(
            f"the database refused the data selection: {_one_line(getattr(exc, 'orig', exc))}",
            where=source.label,
            fix="check the table name or the query",
        ) from None
    engine.dispose()
    datasource = context.data_sources.add_postgres(
        "postgres", connection_string=source.sqlalchemy_url
    )
    if source.table:
        asset = datasource.add_table_asset(
            ASSET, table_name=source.table, schema_name=source.schema
        )
    else:
        asset = datasource.add_query_asset(ASSET, query=source.query)
    fingerprint = sql_fingerprint(
        int(row.row_count), row.high, row.low, schema, table=source.table, query=source.query
    )
    return Batch(
        definition=asset.add_batch_definition_whole_table("all"),
        parameters={},
        columns=[c["name"] for c in schema],
        fingerprint=fingerprint,
    )


def _sql_relation(conn: Any, source: SqlSource) -> tuple[str, list[dict[str, str]]]:
    """The FROM clause for ``source`` and its columns, asked of the database (no rows read)."""
    import sqlalchemy as sa

    quote = conn.dialect.identifier_preparer.quote
    if source.table:
        inspector = sa.inspect(conn)
        if not inspector.has_table(source.table, schema=source.schema):
            raise InputError(
                f"table {source.table!r} not found",
                where=source.label,
                fix="check ?table= (and ?schema=)",
            )
        columns = inspector.get_columns(source.table, schema=source.schema)
        schema = [{"name": str(c["name"]), "type": str(c["type"])} for c in columns]
        name = quote(source.table)
        relation = f"{quote(source.schema)}.{name}" if source.schema else name
        return relation, schema
    query = str(source.query).strip().rstrip(";")
    relation = f"({query})"
    result = conn.execute(sa.text(f"SELECT * FROM {relation} AS q LIMIT 0"))  # noqa: S608
    types = {
        str(d[0]): str(d[1]) for d in (result.cursor.description if result.cursor else []) or []
    }
    schema = [{"name": str(k), "type": types.get(str(k), "")} for k in result.keys()]  # noqa: SIM118
    result.close()
    return relation, schema


# -- Spark -----------------------------------------------------------------------------------


def _spark_batch(context: Any, source: SparkSource) -> Batch:
    from mltoolkit.data.spark_placement import SparkPlacement
    from mltoolkit.data.spark_session import is_unavailable, spark_session

    placement = source.placement or SparkPlacement(master=source.master)
    session = spark_session(placement)
    try:
        reader = session.read
        if source.format == "csv":
            frame = reader.option("header", "true").option("inferSchema", "true").csv(source.path)
        else:
            frame = reader.parquet(source.path)
        columns = list(frame.columns)
        row_count = frame.count()
    except Exception as exc:
        session.stop()
        if is_unavailable(exc):
            raise ExternalError(
                f"Spark stopped answering: {_one_line(exc)}",
                where=f"{source.label} on {placement.shown}",
                fix="check that the Spark Connect server runs",
            ) from None
        raise InputError(
            f"Spark cannot read the data as {source.format}: {_one_line(exc)}",
            where=source.label,
            fix=f"check that it is valid {source.format}",
        ) from None
    from pathlib import Path

    local = Path(source.path)
    fingerprint: dict[str, Any] = {"kind": "spark", "format": source.format, "path": source.path}
    if "://" not in source.path and local.exists():
        fingerprint = path_fingerprint(local, source.format)
    fingerprint["row_count"] = row_count
    fingerprint["schema"] = [
        {"name": f.name, "type": f.dataType.simpleString()} for f in frame.schema
    ]
    asset = context.data_sources.add_spark("spark").add_dataframe_asset(ASSET)
    return Batch(
        definition=asset.add_batch_definition_whole_dataframe("all"),
        parameters={"dataframe": frame},
        columns=columns,
        fingerprint=fingerprint,
        closers=[session.stop],
    )
