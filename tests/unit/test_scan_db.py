"""DB age, staleness and the trivy flags that choose the DB source."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mltoolkit.errors import ExitCode, ExternalError, InputError
from mltoolkit.scan.db import (
    DbOptions,
    format_age,
    parse_max_age,
    read_db_status,
    require_fresh,
    trivy_db_args,
)

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


def _cache(tmp_path: Path, updated: str) -> Path:
    (tmp_path / "db").mkdir()
    meta = {
        "Version": 2,
        "NextUpdate": "2026-06-10T18:00:00Z",
        "UpdatedAt": updated,
        "DownloadedAt": "2026-06-10T11:00:00.123456789Z",
    }
    (tmp_path / "db" / "metadata.json").write_text(json.dumps(meta))
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72h", 72 * 3600),
        ("3d", 3 * 86400),
        ("90m", 5400),
        ("48", 48 * 3600),
        (24, 86400),
        ("1w", 604800),
    ],
)
def test_max_age_parses(text: object, expected: int) -> None:
    assert parse_max_age(text).total_seconds() == expected


def test_bad_max_age_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a duration"):
        parse_max_age("three days")


def test_age_comes_from_updated_at(tmp_path: Path) -> None:
    options = DbOptions(cache_dir=_cache(tmp_path, "2026-06-05T12:00:00Z"))
    status = read_db_status(options, now=NOW)
    assert status.age == dt.timedelta(days=5)
    assert status.stale
    assert status.downloaded_at is not None and status.downloaded_at.microsecond == 123456
    assert status.to_dict()["age"] == "5d 0h"
    with pytest.raises(ExternalError, match="5d 0h old") as caught:
        require_fresh(status, options)
    assert caught.value.exit_code == ExitCode.EXTERNAL
    assert "--allow-stale-db" in caught.value.diagnostics()
    require_fresh(status, DbOptions(cache_dir=tmp_path, allow_stale=True))


def test_fresh_db_passes(tmp_path: Path) -> None:
    options = DbOptions(cache_dir=_cache(tmp_path, "2026-06-10T06:00:00Z"))
    status = read_db_status(options, now=NOW)
    assert not status.stale and format_age(status.age) == "6h 0m"
    require_fresh(status, options)


def test_missing_metadata_is_an_external_error(tmp_path: Path) -> None:
    with pytest.raises(ExternalError, match="no vulnerability DB metadata"):
        read_db_status(DbOptions(cache_dir=tmp_path))


def test_offline_uses_only_the_cache(tmp_path: Path) -> None:
    with pytest.raises(ExternalError, match="cache holds no vulnerability DB"):
        trivy_db_args(DbOptions(cache_dir=tmp_path, offline=True), insecure=False)
    _cache(tmp_path, "2026-06-10T06:00:00Z")
    args = trivy_db_args(DbOptions(cache_dir=tmp_path, offline=True), insecure=False)
    assert "--skip-db-update" in args and "--db-repository" not in args


def test_db_repository_is_passed_with_insecure_for_loopback(tmp_path: Path) -> None:
    options = DbOptions(cache_dir=tmp_path, repository="127.0.0.1:5555/trivy-db:2")
    args = trivy_db_args(options, insecure=True)
    assert args[:2] == ["--cache-dir", str(tmp_path)]
    assert args[args.index("--db-repository") + 1] == "127.0.0.1:5555/trivy-db:2"
    assert "--insecure" in args
    assert "--insecure" not in trivy_db_args(options, insecure=False)
