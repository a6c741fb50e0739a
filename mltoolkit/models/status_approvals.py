"""The approvals ``mltoolkit status`` shows for a version: every approval stored on its image
digest, verified against the policy's trust, and whether ``promote`` would count it and why.

Counting reuses the promotion gate (``judge_approvals``) environment by environment, so status
and promote never disagree; approvals naming an environment whose policy needs none, or one the
policy does not define, are listed as not counted with that reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mltoolkit.approvals.record import format_time, parse_approval
from mltoolkit.evidence.collect import EvidenceReport, Rejected
from mltoolkit.evidence.types import APPROVAL
from mltoolkit.policy.model import EvidenceType

if TYPE_CHECKING:
    from mltoolkit.policy.model import Policy


def approvals_of(
    policy: Policy,
    model: str,
    version: int,
    digest: str,
    report: EvidenceReport,
    now: datetime,
) -> list[dict[str, Any]]:
    """Every approval on ``digest`` (verified or rejected), each with ``counted`` and ``reason``,
    oldest first; rejected items (bad signature, untrusted signer) come last."""
    from mltoolkit.promote.gates import VersionFacts, judge_approvals

    facts = VersionFacts(model=model, version=version, image="", digest=digest)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    judged: set[str] = set()
    for env in policy.environments.values():
        rules = env.approvals
        if rules is None or rules.required <= 0:
            continue
        judged.add(env.name)
        for verdict in judge_approvals(policy, env, rules, facts, report, now):
            # Each environment's run judges every approval; keep the run of its own environment.
            key = (verdict.source, verdict.approver, verdict.environment, verdict.time)
            if verdict.environment in (env.name, "?") and key not in seen:
                seen.add(key)
                rows.append(verdict.to_dict() | {"verified": True})
    for item in report.of_type(str(EvidenceType.APPROVAL)):
        try:
            approval = parse_approval(item.predicate)
        except ValueError as exc:
            if not judged:
                rows.append(_row(item.signer, "?", "?", "", str(exc), item.source, True))
            continue
        if approval.environment in judged:
            continue
        if approval.environment in policy.environments:
            reason = f"{approval.environment} needs no approval"
        else:
            reason = f"the policy has no environment {approval.environment!r}"
        rows.append(
            _row(
                item.signer,
                approval.environment,
                format_time(approval.time),
                approval.comment,
                reason,
                item.source,
                True,
            )
        )
    rows = _one_per_approval(rows)
    for rejected in report.rejected:
        source, reason = rejected
        # Matched by the claimed predicate type, as the gates match it; never by the reason's
        # words. An item whose type could not be read may be an approval: shown, and said so.
        claimed = rejected.predicate_type if isinstance(rejected, Rejected) else None
        if claimed == APPROVAL:
            rows.append(_row("?", "?", "?", "", reason, source, False))
        elif claimed is None:
            unread = f"{reason} (its type could not be read)"
            rows.append(_row("?", "?", "?", "", unread, source, False))
    return rows


def _one_per_approval(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first, the copies of one signed approval (``approve`` stores it both as a cosign
    attestation and as a bundle) merged into one row, judged as its first copy was."""
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: str(r["time"])):
        key = (row["approver"], row["environment"], row["time"], row["comment"])
        if key in merged and row["environment"] != "?":
            merged[key]["sources"].append(row["source"])
        else:
            merged[key if row["environment"] != "?" else (row["source"],)] = row | {
                "sources": [row["source"]]
            }
    return list(merged.values())


def _row(
    approver: str,
    environment: str,
    time: str,
    comment: str,
    reason: str,
    source: str,
    verified: bool,
) -> dict[str, Any]:
    return {
        "approver": approver,
        "environment": environment,
        "time": time,
        "comment": comment,
        "counted": False,
        "reason": reason,
        "source": source,
        "sources": [source],
        "verified": verified,
    }


def approval_lines(approvals: list[dict[str, Any]]) -> list[str]:
    """The approvals of one version as indented lines for the status table."""
    lines = []
    for row in approvals:
        verdict = "counted" if row["counted"] else f"not counted: {row['reason']}"
        comment = f' "{row["comment"]}"' if row["comment"] else ""
        lines.append(
            f"  approval: {row['environment']} by {row['approver']} at {row['time']}"
            f"{comment} -> {verdict}"
        )
    return lines
