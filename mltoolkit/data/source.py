"""``--data SOURCE``: which data, read by which engine.

- ``PATH.csv`` / ``PATH.parquet`` (a file or a directory of Parquet files): DuckDB under GX's SQL
  engine, or pandas (``--engine``; see ``mltoolkit.data.file_engine``);
- ``postgresql://USER@HOST:PORT/DB?table=T`` or ``?query=SQL``: the checks run in the database;
- ``spark:PATH``: pyspark, ``local[*]`` unless a master or a Spark Connect / Databricks remote is
  configured (``mltoolkit.data.spark_placement``).

Passwords never travel in argv: a URL holding one is refused (libpq reads ``PGPASSWORD`` and
``~/.pgpass``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mltoolkit.errors import InputError

if TYPE_CHECKING:
    from mltoolkit.data.spark_placement import SparkPlacement

FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
SQL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
DEFAULT_SPARK_MASTER = "local[*]"


@dataclass(frozen=True)
class FileSource:
    """A CSV or Parquet file (or a directory of Parquet files).

    ``engine``: ``pandas`` or ``duckdb``; ``auto`` until ``file_engine.choose_engine`` settles it.
    """

    path: Path
    format: str
    engine: str = "auto"

    @property
    def label(self) -> str:
        """How the source is named in results and errors."""
        return str(self.path)


@dataclass(frozen=True)
class SqlSource:
    """A PostgreSQL table or query; the expectations run in the database."""

    url: str
    table: str | None
    query: str | None
    schema: str | None = None

    @property
    def label(self) -> str:
        """The URL without credentials, with what it selects."""
        what = f"table={self.table}" if self.table else "query"
        return f"{redacted(self.url)}?{what}"

    @property
    def engine(self) -> str:
        """The engine that evaluates the expectations."""
        return "sql"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg (v3) driver SQLAlchemy needs."""
        scheme, rest = self.url.split("://", 1)
        del scheme
        return f"postgresql+psycopg://{rest}"


@dataclass(frozen=True)
class SparkSource:
    """Parquet or CSV read by pyspark on ``master``, or where ``placement`` says
    (``mltoolkit.data.spark_placement``: a master, Spark Connect or Databricks)."""

    path: str
    format: str
    master: str
    placement: SparkPlacement | None = None

    @property
    def label(self) -> str:
        """How the source is named in results and errors."""
        return f"spark:{self.path}"

    @property
    def engine(self) -> str:
        """The engine that evaluates the expectations."""
        return "spark"


DataSource = FileSource | SqlSource | SparkSource


def redacted(url: str) -> str:
    """``url`` without a password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def parse_source(text: str, *, spark_master: str | None = None, engine: str = "auto") -> DataSource:
    """Parse ``--data``; InputError when it names nothing usable.

    ``engine`` (auto, pandas or duckdb) applies to CSV/Parquet files; naming one for another
    source is an error.
    """
    source = _parse(text, spark_master)
    if engine != "auto" and not isinstance(source, FileSource):
        raise InputError(
            f"--engine {engine} applies to CSV/Parquet files only",
            where=source.label,
            fix=f"drop --engine: {source.label} runs on {source.engine}",
        )
    if isinstance(source, FileSource):
        return FileSource(source.path, source.format, engine)
    return source


def _parse(text: str, spark_master: str | None) -> DataSource:
    if "://" in text and text.split("://", 1)[0] in SQL_SCHEMES:
        return _sql(text)
    if "://" in text:
        raise InputError(
            f"unsupported data URL scheme {text.split('://', 1)[0]!r}",
            where=redacted(text),
            fix="use a CSV/Parquet path, postgresql://...?table=T, or spark:PATH",
        )
    if text.startswith("spark:"):
        path = text.removeprefix("spark:")
        master = spark_master or os.environ.get("MLTOOLKIT_SPARK_MASTER") or DEFAULT_SPARK_MASTER
        return SparkSource(path, _spark_format(path, text), master)
    return _file(Path(text))


def _file(path: Path) -> FileSource:
    if not path.exists():
        raise InputError("data file not found", where=str(path), fix="check the --data path")
    if path.is_dir():
        if any(path.glob("*.parquet")):
            return FileSource(path, "parquet")
        raise InputError(
            "the directory holds no .parquet files", where=str(path), fix="pass a file"
        )
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unknown data format {path.suffix or '(no extension)'!r}",
            where=str(path),
            fix="pass a .csv or .parquet file",
        )
    return FileSource(path, fmt)


def _spark_format(path: str, text: str) -> str:
    local = Path(path)
    if "://" not in path and not local.exists():
        raise InputError("data not found", where=text, fix="check the path after spark:")
    if local.is_dir() or path.lower().endswith((".parquet", ".pq")):
        return "parquet"
    if path.lower().endswith(".csv"):
        return "csv"
    raise InputError(
        "unknown data format", where=text, fix="pass a .csv or .parquet file or a Parquet directory"
    )


def _sql(text: str) -> SqlSource:
    parts = urlsplit(text)
    if parts.password is not None:
        raise InputError(
            "the data URL holds a password, which would show in the process list and logs",
            where=redacted(text),
            fix="remove it from the URL and set PGPASSWORD (or use ~/.pgpass)",
        )
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    table = params.pop("table", None)
    query = params.pop("query", None)
    schema = params.pop("schema", None)
    if bool(table) == bool(query):
        raise InputError(
            "a PostgreSQL source needs exactly one of ?table= and ?query=",
            where=redacted(text),
            fix="append ?table=NAME or ?query=SELECT... (URL-encoded)",
        )
    if not parts.hostname or not parts.path.strip("/"):
        raise InputError(
            "the PostgreSQL URL needs a host and a database",
            where=redacted(text),
            fix="postgresql://USER@HOST:PORT/DATABASE?table=NAME",
        )
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
    return SqlSource(url, table or None, query or None, schema or None)
