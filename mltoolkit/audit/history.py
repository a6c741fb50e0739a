"""What the audit log says happened: which version was in an environment at a given time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mltoolkit.approvals.record import format_time, parse_time
from mltoolkit.audit.log import Entry

ACTION_PROMOTE = "promote"


@dataclass(frozen=True)
class Promotion:
    """One promotion (or rollback) as the log records it."""

    seq: int
    time: datetime
    model: str
    environment: str
    version: int
    previous_version: int | None
    digest: str
    image: str
    approvals: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    actor: str | None = None
    run_url: str | None = None
    record: str | None = None

    @property
    def rollback(self) -> bool:
        """Whether an older version replaced a newer one."""
        return self.previous_version is not None and self.version < self.previous_version

    def to_dict(self) -> dict[str, Any]:
        """The JSON view."""
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "model": self.model,
            "environment": self.environment,
            "version": self.version,
            "previous_version": self.previous_version,
            "rollback": self.rollback,
            "digest": self.digest,
            "image": self.image,
            "approvals": self.approvals,
            "evidence": self.evidence,
            "actor": self.actor,
            "run_url": self.run_url,
            "record": self.record,
        }


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def promotions(entries: Iterable[Entry], model: str) -> list[Promotion]:
    """The promotions of ``model`` in log order (entries that cannot be read are skipped:
    ``verify_log`` reports them)."""
    found = []
    for entry in entries:
        if entry.get("action") != ACTION_PROMOTE or entry.get("model") != model:
            continue
        version = _int_or_none(entry.get("version"))
        try:
            when = parse_time(str(entry.get("time")))
        except ValueError:
            continue
        if version is None:
            continue
        found.append(
            Promotion(
                seq=entry.seq,
                time=when,
                model=model,
                environment=str(entry.get("environment")),
                version=version,
                previous_version=_int_or_none(entry.get("previous_version")),
                digest=str(entry.get("digest", "")),
                image=str(entry.get("image", "")),
                approvals=list(entry.get("approvals") or []),
                evidence=list(entry.get("evidence") or []),
                actor=entry.get("actor"),
                run_url=entry.get("run_url"),
                record=entry.get("record"),
            )
        )
    return found


def in_environment_at(
    history: Sequence[Promotion], environment: str, at: datetime
) -> Promotion | None:
    """The promotion that put the version in ``environment`` that was there at ``at``."""
    current = None
    for promotion in history:
        if promotion.environment == environment and promotion.time <= at:
            current = promotion
    return current


def environments_of(history: Sequence[Promotion], version: int) -> tuple[str, ...]:
    """Every environment ``version`` has been promoted to."""
    return tuple(sorted({p.environment for p in history if p.version == version}))


def latest(history: Sequence[Promotion]) -> dict[str, Promotion]:
    """The last promotion to each environment."""
    last: dict[str, Promotion] = {}
    for promotion in history:
        last[promotion.environment] = promotion
    return last
