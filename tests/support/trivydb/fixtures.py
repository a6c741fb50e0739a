"""pytest fixtures: the pinned trivy and test vulnerability DBs served by the local registry.

Load them from a test module with ``from support.trivydb.fixtures import *`` (tests/ is on
sys.path through tests/conftest.py) or with ``pytest_plugins``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from support.trivydb.builder import build_writer, push_db, write_db

ROOT = Path(__file__).resolve().parents[3]

__all__ = [
    "stale_trivy_db_repository",
    "trivy_bin",
    "trivy_db_repository",
    "trivydb_writer",
]


@pytest.fixture(scope="session")
def trivy_bin() -> Path:
    """The pinned trivy, installed and checksum-verified by scripts/install-trivy."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "install-trivy")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/install-trivy failed: {proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def trivydb_writer() -> Path:
    """The compiled BoltDB writer (cached between runs)."""
    return build_writer()


def _publish(registry: str, tmp: Path, writer: Path, name: str, updated_at: dt.datetime) -> str:
    directory = write_db(tmp / name, updated_at=updated_at, writer=writer)
    return push_db(registry, f"mltoolkit-test/{name}", "2", directory)


@pytest.fixture(scope="session")
def trivy_db_repository(
    registry: str, trivydb_writer: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``HOST:PORT/mltoolkit-test/trivy-db:2``: a fresh test DB (built one hour ago)."""
    now = dt.datetime.now(dt.UTC)
    tmp = tmp_path_factory.mktemp("trivydb")
    return _publish(registry, tmp, trivydb_writer, "trivy-db", now - dt.timedelta(hours=1))


@pytest.fixture(scope="session")
def stale_trivy_db_repository(
    registry: str, trivydb_writer: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The same DB built five days ago: older than the default 72 h maximum."""
    now = dt.datetime.now(dt.UTC)
    tmp = tmp_path_factory.mktemp("trivydb-stale")
    return _publish(registry, tmp, trivydb_writer, "trivy-db-stale", now - dt.timedelta(days=5))
