"""``--data SOURCE`` parsing and file fingerprints (no GX, no database)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from mltoolkit.data.fingerprint import path_fingerprint, sql_checksum_query
from mltoolkit.data.source import FileSource, SparkSource, SqlSource, parse_source, redacted
from mltoolkit.errors import InputError


def test_files_by_extension(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("x\n1\n")
    assert parse_source(str(csv)) == FileSource(csv, "csv")
    parquet = tmp_path / "a.PARQUET"
    parquet.write_bytes(b"x")
    assert parse_source(str(parquet)).format == "parquet"  # type: ignore[union-attr]
    with pytest.raises(InputError, match=r"unknown data format '\.json'"):
        (tmp_path / "a.json").write_text("{}")
        parse_source(str(tmp_path / "a.json"))
    with pytest.raises(InputError, match="data file not found"):
        parse_source(str(tmp_path / "missing.csv"))
    with pytest.raises(InputError, match=r"no \.parquet files"):
        parse_source(str(tmp_path / ".."))


def test_postgres_table_and_query() -> None:
    table = parse_source("postgresql://app@db.example:5432/warehouse?table=tx&schema=risk")
    assert table == SqlSource("postgresql://app@db.example:5432/warehouse", "tx", None, "risk")
    assert table.sqlalchemy_url == "postgresql+psycopg://app@db.example:5432/warehouse"
    assert table.label == "postgresql://app@db.example:5432/warehouse?table=tx"
    query = parse_source("postgres://app@db/w?query=SELECT%20*%20FROM%20tx&sslmode=require")
    assert isinstance(query, SqlSource)
    assert query.query == "SELECT * FROM tx"
    assert query.url == "postgres://app@db/w?sslmode=require"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("postgresql://app@db/w", "exactly one of ?table= and ?query="),
        ("postgresql://app@db/w?table=a&query=b", "exactly one of ?table= and ?query="),
        ("postgresql://app@db?table=a", "needs a host and a database"),
        ("mysql://app@db/w?table=a", "unsupported data URL scheme 'mysql'"),
    ],
)
def test_bad_urls(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_source(text)


def test_a_password_in_the_url_is_refused_and_never_shown() -> None:
    with pytest.raises(InputError) as caught:
        parse_source("postgresql://app:hunter2@db/w?table=t")
    assert "hunter2" not in caught.value.diagnostics()
    assert "PGPASSWORD" in caught.value.diagnostics()
    assert redacted("postgresql://app:hunter2@db:5/w") == "postgresql://app:***@db:5/w"


def test_spark_master_from_flag_env_or_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "tx"
    folder.mkdir()
    monkeypatch.delenv("MLTOOLKIT_SPARK_MASTER", raising=False)
    assert parse_source(f"spark:{folder}") == SparkSource(str(folder), "parquet", "local[*]")
    monkeypatch.setenv("MLTOOLKIT_SPARK_MASTER", "spark://m:7077")
    assert parse_source(f"spark:{folder}").master == "spark://m:7077"  # type: ignore[union-attr]
    source = parse_source(f"spark:{folder}", spark_master="local[2]")
    assert source.master == "local[2]"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="data not found"):
        parse_source(f"spark:{tmp_path / 'nope.parquet'}")


def test_file_and_directory_fingerprints(tmp_path: Path) -> None:
    one = tmp_path / "a.parquet"
    one.write_bytes(b"abc" * 1000)
    doc = path_fingerprint(one, "parquet")
    assert doc["sha256"] == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert doc["size"] == 3000
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "p0.parquet").write_bytes(b"0")
    (folder / "p1.parquet").write_bytes(b"1")
    (folder / "_SUCCESS").write_bytes(b"")
    first = path_fingerprint(folder, "parquet")
    assert first["files"] == 2
    (folder / "p1.parquet").write_bytes(b"2")
    assert path_fingerprint(folder, "parquet")["sha256"] != first["sha256"]


def test_sql_checksum_runs_over_the_relation() -> None:
    text = sql_checksum_query('"tx"')
    assert 'FROM "tx" AS r' in text
    assert "md5(r::text)" in text
