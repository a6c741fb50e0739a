"""The vulnerability DB: where it is cached, where trivy gets it, and how old it is.

trivy keeps its DB in ``CACHE/db/trivy.db`` with ``CACHE/db/metadata.json`` next to it. A cache
directory shared between runs means one download serves many scans. ``--db-repository`` points
trivy at an internal OCI mirror (the air-gapped setup); ``--offline`` uses the cache only. A DB
older than ``max_age`` fails closed unless stale DBs are explicitly allowed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltoolkit.errors import ExternalError, InputError

DEFAULT_MAX_AGE = dt.timedelta(hours=72)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "": 3600.0}


def default_cache_dir() -> Path:
    """``$MLTOOLKIT_CACHE_DIR/trivy``, else ``${XDG_CACHE_HOME:-~/.cache}/mltoolkit/trivy``."""
    base = os.environ.get("MLTOOLKIT_CACHE_DIR")
    if base:
        return Path(base) / "trivy"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "mltoolkit" / "trivy"


def parse_max_age(value: Any, *, where: str = "max-db-age") -> dt.timedelta:
    """``"72h"``, ``"3d"``, ``"90m"``, a number of hours or a timedelta -> timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a duration", where=where, fix="write e.g. 72h or 3d")
    if isinstance(value, int | float):
        return dt.timedelta(hours=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise InputError(f"{value!r} is not a duration", where=where, fix="write e.g. 72h or 3d")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_age(age: dt.timedelta) -> str:
    """A short human age: ``"5d 3h"``, ``"4h 12m"``, ``"12m"``."""
    minutes = max(0, int(age.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


@dataclass(frozen=True)
class DbOptions:
    """Where the DB comes from and how old it may be."""

    cache_dir: Path
    repository: str | None = None
    offline: bool = False
    max_age: dt.timedelta = DEFAULT_MAX_AGE
    allow_stale: bool = False

    @property
    def metadata_path(self) -> Path:
        """trivy's ``metadata.json`` for the DB in this cache."""
        return self.cache_dir / "db" / "metadata.json"


@dataclass(frozen=True)
class DbStatus:
    """The DB a scan used: when it was built and whether it was too old."""

    updated_at: dt.datetime
    next_update: dt.datetime | None
    downloaded_at: dt.datetime | None
    age: dt.timedelta
    max_age: dt.timedelta
    source: str

    @property
    def stale(self) -> bool:
        """Older than the allowed maximum age."""
        return self.age > self.max_age

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times in ISO 8601, ages in hours and in words."""
        return {
            "updated_at": self.updated_at.isoformat(),
            "next_update": self.next_update.isoformat() if self.next_update else None,
            "downloaded_at": self.downloaded_at.isoformat() if self.downloaded_at else None,
            "age_hours": round(self.age.total_seconds() / 3600, 2),
            "age": format_age(self.age),
            "max_age_hours": round(self.max_age.total_seconds() / 3600, 2),
            "stale": self.stale,
            "source": self.source,
        }


def trivy_db_args(options: DbOptions, *, insecure: bool) -> list[str]:
    """trivy flags that select the cache and the DB source."""
    args = ["--cache-dir", str(options.cache_dir)]
    if options.offline:
        if not options.metadata_path.is_file():
            raise ExternalError(
                "--offline was given but the cache holds no vulnerability DB",
                where=str(options.cache_dir),
                fix="fill the cache once with --db-repository (or online), or drop --offline",
            )
        return [*args, "--skip-db-update", "--skip-java-db-update", "--skip-check-update"]
    if options.repository:
        args += ["--db-repository", options.repository, "--skip-java-db-update"]
        args += ["--skip-check-update"]
        if insecure:
            args.append("--insecure")
    return args


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # Go's zero time means "never"; fractional nanoseconds beyond 6 digits are cut by fromisoformat.
    if parsed.year <= 1:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _parse_metadata_text(text: str, where: str) -> dict[str, Any]:
    # Go writes 9 fractional digits; Python's fromisoformat accepts them from 3.11 on.
    try:
        doc = json.loads(text)
    except ValueError:
        raise ExternalError("the DB metadata is not JSON", where=where) from None
    if not isinstance(doc, dict):
        raise ExternalError("the DB metadata is not a JSON object", where=where)
    return doc


def read_db_status(options: DbOptions, *, now: dt.datetime | None = None) -> DbStatus:
    """Read ``metadata.json`` from the cache and compute the DB's age."""
    where = str(options.metadata_path)
    try:
        text = options.metadata_path.read_text(encoding="utf-8")
    except OSError:
        raise ExternalError(
            "trivy left no vulnerability DB metadata in the cache",
            where=where,
            fix="check --db-repository and --cache-dir",
        ) from None
    doc = _parse_metadata_text(text, where)
    updated = _time(doc.get("UpdatedAt"))
    if updated is None:
        raise ExternalError("the DB metadata has no UpdatedAt time", where=where)
    now = now or dt.datetime.now(dt.UTC)
    source = "offline cache" if options.offline else (options.repository or "trivy default")
    return DbStatus(
        updated_at=updated,
        next_update=_time(doc.get("NextUpdate")),
        downloaded_at=_time(doc.get("DownloadedAt")),
        age=now - updated,
        max_age=options.max_age,
        source=source,
    )


def require_fresh(status: DbStatus, options: DbOptions) -> None:
    """Fail closed on a stale DB unless ``allow_stale``."""
    if status.stale and not options.allow_stale:
        raise ExternalError(
            f"the vulnerability DB is {format_age(status.age)} old "
            f"(built {status.updated_at:%Y-%m-%d %H:%M} UTC), over the "
            f"{format_age(status.max_age)} maximum",
            where=status.source,
            fix="update the DB mirror, or pass --allow-stale-db to accept it (the report says so)",
        )
