"""The approval predicate: what an approver signs, and reading it back.

An approval is an in-toto Statement about the image digest with the predicate type
``https://mltoolkit.dev/attestation/approval/v1``. Everything a gate checks (model, version,
digest, environment, time) is inside the signed predicate; nothing is read from MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREDICATE_SCHEMA = "mltoolkit.approval/v1"


@dataclass(frozen=True)
class Approval:
    """One approval as its predicate states it."""

    model: str
    version: int
    digest: str
    environment: str
    approver: str
    time: datetime
    comment: str = ""
    ci: dict[str, Any] | None = None
    platform_approval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON view for results and reports."""
        return {
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "environment": self.environment,
            "approver": self.approver,
            "time": format_time(self.time),
            "comment": self.comment,
            "ci": self.ci,
            "platform_approval": self.platform_approval,
        }


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset; naive times are taken as UTC); ValueError if not."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def approval_predicate(
    *,
    model: str,
    version: int,
    digest: str,
    environment: str,
    approver: str,
    time: datetime,
    comment: str = "",
    ci: dict[str, Any] | None = None,
    platform_approval: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The predicate ``mltoolkit approve`` signs (``platform_approval`` only when in CI)."""
    predicate = {
        "schema": PREDICATE_SCHEMA,
        "model": {"name": model, "version": version},
        "image": {"digest": digest},
        "environment": environment,
        "approver": approver,
        "time": format_time(time),
        "comment": comment,
        "ci": ci,
    }
    if platform_approval is not None:
        predicate["platform_approval"] = platform_approval
    return predicate


def parse_approval(predicate: Any) -> Approval:
    """The approval in ``predicate``; ValueError saying what is missing or malformed."""
    if not isinstance(predicate, dict) or predicate.get("schema") != PREDICATE_SCHEMA:
        raise ValueError(f"not a {PREDICATE_SCHEMA} predicate")
    model = predicate.get("model")
    image = predicate.get("image")
    if not isinstance(model, dict) or not isinstance(image, dict):
        raise ValueError("the approval lacks model or image")
    name, version, digest = model.get("name"), model.get("version"), image.get("digest")
    environment, time = predicate.get("environment"), predicate.get("time")
    if not isinstance(name, str) or not isinstance(digest, str) or not isinstance(environment, str):
        raise ValueError("the approval lacks the model name, the digest or the environment")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("the approval's model version is not a whole number")
    if not isinstance(time, str):
        raise ValueError("the approval has no time")
    try:
        when = parse_time(time)
    except ValueError:
        raise ValueError(f"the approval's time {time!r} is not RFC 3339") from None
    ci = predicate.get("ci")
    platform = predicate.get("platform_approval")
    return Approval(
        model=name,
        version=version,
        digest=digest,
        environment=environment,
        approver=str(predicate.get("approver", "")),
        time=when,
        comment=str(predicate.get("comment") or ""),
        ci=ci if isinstance(ci, dict) else None,
        platform_approval=platform if isinstance(platform, dict) else None,
    )
