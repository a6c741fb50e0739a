"""``mltoolkit audit``: what was in each environment at a time, checked against the signed log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltoolkit.approvals.record import format_time
from mltoolkit.audit.history import Promotion, in_environment_at, latest, promotions
from mltoolkit.audit.keys import promotion_keys
from mltoolkit.audit.log import verify_log

if TYPE_CHECKING:
    from mltoolkit.policy.model import Policy


@dataclass
class Trail:
    """The answer of ``audit``: the log's health and, per environment, the version at ``at``."""

    model: str
    path: Path
    at: datetime
    entries: int
    problems: list[str]
    environments: dict[str, Promotion | None]
    history: list[Promotion] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the chain, the signatures and the aliases all agree."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The JSON view."""
        return {
            "ok": self.ok,
            "model": self.model,
            "log": str(self.path),
            "at": format_time(self.at),
            "entries": self.entries,
            "problems": self.problems,
            "environments": {
                env: (p.to_dict() if p is not None else None)
                for env, p in self.environments.items()
            },
            "history": [p.to_dict() for p in self.history],
        }


def audit(
    policy: Policy,
    path: Path,
    model: str,
    *,
    environment: str | None,
    at: datetime,
    aliases_now: dict[str, int] | None,
) -> Trail:
    """Verify the log and answer for ``environment`` (every one when None) at ``at``.

    ``aliases_now`` (MLflow's aliases, when ``at`` is now) are compared with the log's last
    promotion to each environment: a difference means entries were cut from the end of the log
    or an alias was moved without mltoolkit.
    """
    check = verify_log(path, promotion_keys(policy))
    history = promotions(check.entries, model)
    names = [environment] if environment else list(policy.environments)
    for promotion in history:
        if environment is None and promotion.environment not in names:
            names.append(promotion.environment)
    problems = list(check.problems)
    if aliases_now is not None:
        last = latest(history)
        for env in names:
            logged = last[env].version if env in last else None
            actual = aliases_now.get(env)
            if actual != logged:
                problems.append(
                    f"MLflow alias {env} points to version {actual} but the audit log's last "
                    f"promotion to {env} is version {logged}: entries were cut from the end of "
                    "the log, or the alias was moved without mltoolkit"
                )
    found = {env: in_environment_at(history, env, at) for env in names}
    return Trail(model, path, at, len(check.entries), problems, found, history)


def render(trail: Trail) -> str:
    """The human answer."""
    state = "chain intact, every entry signed by a trusted key"
    if trail.problems:
        state = f"{len(trail.problems)} problem(s)"
    lines = [f"Audit log {trail.path}: {trail.entries} entries, {state}"]
    lines += [f"  PROBLEM: {p}" for p in trail.problems]
    lines.append("")
    for env, promotion in trail.environments.items():
        when = format_time(trail.at)
        if promotion is None:
            lines.append(f"{env} at {when}: no version of {trail.model}")
            continue
        how = "rolled back to" if promotion.rollback else "promoted"
        lines.append(
            f"{env} at {when}: version {promotion.version} ({how} {format_time(promotion.time)}"
            + (f" by {promotion.actor}" if promotion.actor else "")
            + (
                f", replacing version {promotion.previous_version}"
                if promotion.previous_version is not None
                else ""
            )
            + ")"
        )
        lines.append(f"  image: {promotion.image}")
        approvers = [
            f"{a.get('approver')} ({a.get('time')}"
            + (f": {a.get('comment')}" if a.get("comment") else "")
            + ")"
            for a in promotion.approvals
        ]
        lines.append(f"  approved by: {', '.join(approvers) or 'no approval required'}")
        evidence = sorted({f"{e.get('type')} ({e.get('signer')})" for e in promotion.evidence})
        lines.append(f"  evidence: {', '.join(evidence) or 'none'}")
        if promotion.run_url:
            lines.append(f"  run: {promotion.run_url}")
    return "\n".join(lines)
