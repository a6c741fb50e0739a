"""``validate-data`` on PostgreSQL: the checks run in the database, on a table and on a query.

The server is the one ``scripts/services start --with-postgres`` runs on 127.0.0.1 (the
``postgres_url`` fixture of tests/conftest.py); the tests use a database of their own in it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.integration

psycopg = pytest.importorskip("psycopg")

SUITES = Path(__file__).parents[1] / "data" / "suites"
MLTOOLKIT = [sys.executable, "-m", "mltoolkit"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def database(postgres_url: str) -> str:
    """A database of its own in the services' server (conftest's ``postgres_url``)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS mltoolkit_data_tests")
        conn.execute("CREATE DATABASE mltoolkit_data_tests")
    base, _, _ = postgres_url.rpartition("/")
    return f"{base}/mltoolkit_data_tests"


def _sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def make_table(url: str, name: str, rows: int) -> None:
    """The shared transactions, generated in the database (the client never holds them)."""
    _sql(
        url,
        f"DROP TABLE IF EXISTS {name}",
        f"""CREATE TABLE {name} AS SELECT g AS id,
              ((g * 37) % 1000) + 0.5 AS amount,
              (ARRAY['EUR', 'USD', 'GBP'])[g % 3 + 1] AS currency,
              'm' || (g % 50) AS merchant,
              (g % 20 = 0)::int AS is_fraud
            FROM generate_series(1, {rows}) AS g""",
    )


@pytest.fixture(scope="module")
def table(database: str) -> str:
    make_table(database, "tx", 400)
    return "tx"


def validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MLTOOLKIT, "validate-data", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLTOOLKIT_PLATFORM": "local", **(env or {})},
    )


def validate_json(tmp_path: Path, suite: str, data: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / f"{suite}.json"
    done = validate("--suite", str(SUITES / suite), "--data", data, "--json", str(report))
    doc = json.loads(report.read_text()) if report.exists() else {}
    return done.returncode, doc, done.stderr


def test_same_suite_passes_on_a_table_and_on_a_query(
    database: str, table: str, tmp_path: Path
) -> None:
    code, doc, err = validate_json(tmp_path, "transactions.yaml", f"{database}?table={table}")
    assert code == 0, err
    assert doc["data"]["engine"] == "sql"
    assert [r["status"] for r in doc["results"]] == ["passed"] * 8
    assert doc["results"][0]["observed_value"] == 400
    fingerprint = doc["fingerprint"]
    assert fingerprint["kind"] == "table"
    assert fingerprint["row_count"] == 400
    assert [c["name"] for c in fingerprint["schema"]] == [
        "id",
        "amount",
        "currency",
        "merchant",
        "is_fraud",
    ]
    assert len(fingerprint["checksum"]["sha256"]) == 64

    query = f"SELECT * FROM {table} WHERE id <= 300"
    code, doc, err = validate_json(
        tmp_path, "transactions.yaml", f"{database}?query={quote(query)}"
    )
    assert code == 0, err
    assert doc["results"][0]["observed_value"] == 300
    assert doc["fingerprint"]["kind"] == "query"
    assert doc["fingerprint"]["query"] == query
    assert doc["fingerprint"]["row_count"] == 300


def test_failing_suite_on_a_table_exits_1_with_observed_values(
    database: str, table: str, tmp_path: Path
) -> None:
    code, doc, err = validate_json(
        tmp_path, "transactions_strict.yaml", f"{database}?table={table}"
    )
    assert code == 1, err
    assert "expect_column_values_to_be_between(amount) at line 6: 205 unexpected of 400" in err
    between = doc["results"][1]
    assert between["status"] == "failed"
    assert between["unexpected_count"] == 205
    assert all(v > 500 for v in between["unexpected_examples"])


def test_bad_selections_exit_2_and_an_unreachable_server_3(
    database: str, table: str, tmp_path: Path
) -> None:
    suite = str(SUITES / "transactions.yaml")
    done = validate("--suite", suite, "--data", f"{database}?table=nope")
    assert done.returncode == 2, done.stderr
    assert "table 'nope' not found" in done.stderr
    done = validate("--suite", suite, "--data", f"{database}?query={quote('SELEC 1')}")
    assert done.returncode == 2, done.stderr
    assert "the database refused the data selection" in done.stderr
    done = validate(
        "--suite",
        str(SUITES / "bad" / "missing_column.yaml"),
        "--data",
        f"{database}?table={table}",
    )
    assert done.returncode == 2, done.stderr
    assert "'amuont'" in done.stderr
    dead = f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres?table=tx"
    done = validate("--suite", suite, "--data", dead)
    assert done.returncode == 3, done.stderr
    assert "cannot reach PostgreSQL" in done.stderr
    for result in (done,):
        assert "Traceback" not in result.stderr


def test_fingerprint_changes_when_one_row_changes(database: str, tmp_path: Path) -> None:
    make_table(database, "tx_fp", 200)
    data = f"{database}?table=tx_fp"
    _, first, _ = validate_json(tmp_path, "transactions.yaml", data)
    _, again, _ = validate_json(tmp_path, "transactions.yaml", data)
    assert first["fingerprint"]["checksum"] == again["fingerprint"]["checksum"]
    _sql(database, "UPDATE tx_fp SET amount = amount + 1 WHERE id = 17")
    _, changed, _ = validate_json(tmp_path, "transactions.yaml", data)
    assert changed["fingerprint"]["row_count"] == 200
    assert changed["fingerprint"]["checksum"] != first["fingerprint"]["checksum"]


def _peak_rss_kib(*args: str) -> int:
    """The peak RSS of one validate-data process, measured by a fresh parent (RUSAGE_CHILDREN)."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *MLTOOLKIT, "validate-data", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env={**os.environ, "MLTOOLKIT_PLATFORM": "local"},
    )
    code, rss = done.stdout.split()
    assert code == "0", done.stderr
    return int(rss)


def test_client_memory_stays_flat_when_the_table_grows_tenfold(database: str) -> None:
    make_table(database, "tx_small", 100_000)
    make_table(database, "tx_large", 1_000_000)
    suite = str(SUITES / "transactions.yaml")
    small = _peak_rss_kib("--suite", suite, "--data", f"{database}?table=tx_small")
    large = _peak_rss_kib("--suite", suite, "--data", f"{database}?table=tx_large")
    # 900,000 more rows of five columns would be well over 100 MB in pandas; the client grows
    # by less than 10% + 20 MiB.
    assert large <= small * 1.10 + 20 * 1024, (small, large)
