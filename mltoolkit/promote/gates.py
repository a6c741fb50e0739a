"""Gate evaluation: does a model version meet an environment's policy? Pure, no services.

Inputs are the policy environment, what MLflow says about the version (``VersionFacts``), the
evidence verified for the image digest (``EvidenceReport`` from ``collect_evidence``) and the
current time. Only verified evidence counts; MLflow tags are lineage for people, never proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mltoolkit.approvals.record import Approval, format_time, parse_approval
from mltoolkit.evidence.collect import Evidence, EvidenceReport, Rejected
from mltoolkit.evidence.types import evidence_type_of
from mltoolkit.policy.model import Approvals, Environment, EvidenceType, Policy

# Evidence whose signer built the image: its signer may not approve under separation of duties.
BUILDER_EVIDENCE = (EvidenceType.SIGNATURE, EvidenceType.PROVENANCE)
# An approval dated later than this after "now" is refused (clock skew allowance).
FUTURE_SKEW = timedelta(minutes=5)
_SHOWN_REJECTIONS = 3


@dataclass(frozen=True)
class VersionFacts:
    """What MLflow says about the version being promoted (unsigned: never proof of evidence).

    ``aliases`` are the environments the version is in now; ``previously_in`` those the audit
    log shows it was in before (a rollback may come back from there).
    """

    model: str
    version: int
    image: str
    digest: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    previously_in: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None


@dataclass(frozen=True)
class GateResult:
    """One row of the gate table."""

    gate: str
    required: str
    found: str
    verified_by: str
    passed: bool
    why: str

    @property
    def result(self) -> str:
        """``pass`` or ``fail``."""
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        """The JSON row."""
        return {
            "gate": self.gate,
            "required": self.required,
            "found": self.found,
            "verified_by": self.verified_by,
            "result": self.result,
            "why": self.why,
        }


@dataclass(frozen=True)
class ApprovalVerdict:
    """One approval found on the image: counted or not, and why."""

    approver: str
    environment: str
    time: str
    comment: str
    counted: bool
    reason: str
    source: str
    # Would count, but its approver is counted already: the same approval stored in a second
    # format (.att layer and bundle), or the same person approving again.
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON view."""
        return {
            "approver": self.approver,
            "environment": self.environment,
            "time": self.time,
            "comment": self.comment,
            "counted": self.counted,
            "reason": self.reason,
            "source": self.source,
        }


@dataclass(frozen=True)
class Evaluation:
    """Every gate of one environment for one version."""

    environment: str
    facts: VersionFacts
    gates: tuple[GateResult, ...]
    approvals: tuple[ApprovalVerdict, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return all(g.passed for g in self.gates)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that did not pass."""
        return tuple(g for g in self.gates if not g.passed)

    def to_dict(self) -> dict[str, Any]:
        """The JSON view."""
        return {
            "environment": self.environment,
            "model": self.facts.model,
            "version": self.facts.version,
            "image": self.facts.image,
            "digest": self.facts.digest,
            "passed": self.passed,
            "gates": [g.to_dict() for g in self.gates],
            "approvals": [a.to_dict() for a in self.approvals],
        }


def evaluate(
    policy: Policy,
    environment: str,
    facts: VersionFacts,
    evidence: EvidenceReport,
    now: datetime,
) -> Evaluation:
    """Evaluate every gate ``environment`` sets for ``facts`` against verified ``evidence``."""
    env = policy.environments[environment]
    gates: list[GateResult] = []
    if env.from_env is not None:
        gates.append(_from_gate(env.from_env, facts))
    for kind in env.requires:
        gates.append(_evidence_gate(policy, kind, facts, evidence, now))
    for name, threshold in env.metrics.items():
        gates.append(_metric_gate(name, str(threshold), threshold.accepts, facts))
    verdicts: tuple[ApprovalVerdict, ...] = ()
    if env.approvals is not None and env.approvals.required > 0:
        verdicts = judge_approvals(policy, env, env.approvals, facts, evidence, now)
        gates.append(_approvals_gate(policy, env, env.approvals, verdicts, evidence))
    return Evaluation(environment, facts, tuple(gates), verdicts)


def _from_gate(source: str, facts: VersionFacts) -> GateResult:
    required = f"version {facts.version} is in {source}"
    where = ", ".join(facts.aliases) or "no environment"
    if source in facts.aliases:
        return GateResult(f"from {source}", required, f"in {where}", "MLflow alias", True, "")
    if source in facts.previously_in:
        return GateResult(
            f"from {source}",
            required,
            f"in {where}; was in {source}",
            "audit log",
            True,
            f"a rollback: the audit log shows version {facts.version} in {source} before",
        )
    return GateResult(
        f"from {source}",
        required,
        f"in {where}",
        "MLflow alias",
        False,
        f"promote version {facts.version} to {source} first",
    )


def _short(digest: str) -> str:
    return digest[:19] if digest.startswith("sha256:") else digest


def _evidence_gate(
    policy: Policy,
    kind: EvidenceType,
    facts: VersionFacts,
    evidence: EvidenceReport,
    now: datetime,
) -> GateResult:
    trusted = [s.name for s in policy.trust.signers_for(kind)]
    required = f"{kind} signed by {' or '.join(trusted) if trusted else 'nobody (none trusted)'}"
    items = [e for e in evidence.of_type(str(kind)) if e.digest == facts.digest]
    good: list[Evidence] = []
    refused: list[str] = []
    for item in items:
        problem = _content_problem(policy, kind, item, now)
        if problem is None:
            good.append(item)
        else:
            refused.append(f"{item.signer}: {problem}")
    signers = sorted({e.signer for e in good})
    found = f"{len(good)} verified" + (f", {len(refused)} refused" if refused else "")
    if good:
        return GateResult(str(kind), required, found, ", ".join(signers), True, "")
    reasons = refused + _rejections_about(kind, evidence)
    why = f"no verified {kind} evidence for {_short(facts.digest)}"
    if reasons:
        why += ": " + "; ".join(reasons[:_SHOWN_REJECTIONS])
        if len(reasons) > _SHOWN_REJECTIONS:
            why += f" (and {len(reasons) - _SHOWN_REJECTIONS} more)"
    forged = _tag_claims(str(kind), facts.tags)
    if forged:
        why += f"; MLflow tag {forged} claims it, but tags are not evidence"
    return GateResult(str(kind), required, found, "", False, why)


def _content_problem(
    policy: Policy, kind: EvidenceType, item: Evidence, now: datetime
) -> str | None:
    """Why a verified item still does not satisfy the gate (its own verdict says no)."""
    predicate = item.predicate if isinstance(item.predicate, dict) else {}
    if kind == EvidenceType.VULNERABILITY_SCAN:
        scanner = predicate.get("scanner")
        result = scanner.get("result") if isinstance(scanner, dict) else None
        if isinstance(result, dict) and result.get("passed") is False:
            return "the scan it attests failed its gate"
    if kind == EvidenceType.DATA_VALIDATION:
        if predicate.get("verdict") not in (None, "pass"):
            return "the data validation it attests failed"
        stats = predicate.get("statistics")
        percent = stats.get("success_percent") if isinstance(stats, dict) else None
        minimum = policy.gates.data.min_success_percent
        if isinstance(percent, int | float) and percent < minimum:
            return f"{percent:g}% of expectations passed, the policy needs {minimum:g}%"
    return None


def _rejections_about(kind: EvidenceType, evidence: EvidenceReport) -> list[str]:
    """Why the rejected items that claimed to be ``kind`` were rejected, then the items whose
    type could not be read (either may be what the gate misses).

    Matched by the claimed predicate type only; a reason is text for people, whatever it says.
    """
    claimed: list[str] = []
    unread: list[str] = []
    for item in evidence.rejected:
        predicate_type = item.predicate_type if isinstance(item, Rejected) else None
        if predicate_type is None:
            unread.append(f"{item[1]} (its type could not be read)")
        elif evidence_type_of(predicate_type) == kind:
            claimed.append(item[1])
    return claimed + unread


def _tag_claims(kind: str, tags: Mapping[str, str]) -> str | None:
    words = (kind, kind.replace("-", "_"), kind.rsplit("-", maxsplit=1)[-1])
    for key in sorted(tags):
        if any(word in key.lower() for word in words):
            return f"{key}={tags[key]!r}"
    return None


def _metric_gate(name: str, required: str, accepts: Any, facts: VersionFacts) -> GateResult:
    source = f"MLflow run {facts.run_id}" if facts.run_id else "MLflow"
    if name not in facts.metrics:
        return GateResult(
            f"metric {name}",
            required,
            "missing",
            source,
            False,
            f"version {facts.version} has no metric {name!r}",
        )
    value = facts.metrics[name]
    ok = bool(accepts(value))
    why = "" if ok else f"{name} = {value:g} is not {required}"
    return GateResult(f"metric {name}", required, f"{value:g}", source, ok, why)


def builders(evidence: EvidenceReport, digest: str) -> set[str]:
    """The signers of the image's signature and provenance: who built and signed it."""
    return {
        e.signer
        for kind in BUILDER_EVIDENCE
        for e in evidence.of_type(str(kind))
        if e.digest == digest
    }


def judge_approvals(
    policy: Policy,
    env: Environment,
    rules: Approvals,
    facts: VersionFacts,
    evidence: EvidenceReport,
    now: datetime,
) -> tuple[ApprovalVerdict, ...]:
    """Every verified approval on the image, counted or not with the reason, oldest first."""
    allowed = {s.name for s in policy.approvers(env)}
    built_by = builders(evidence, facts.digest)
    counted: set[str] = set()
    verdicts: list[ApprovalVerdict] = []
    items = sorted(evidence.of_type(str(EvidenceType.APPROVAL)), key=_approval_time)
    ctx = _Context(facts, env, rules, now, allowed, built_by)
    for item in items:
        try:
            approval = parse_approval(item.predicate)
        except ValueError as exc:
            verdicts.append(
                ApprovalVerdict(item.signer, "?", "?", "", False, str(exc), item.source)
            )
            continue
        reason = _approval_problem(ctx, item, approval)
        duplicate = reason is None and item.signer in counted
        if duplicate:
            reason = f"a duplicate: {item.signer} is counted once"
        if reason is None:
            counted.add(item.signer)
        verdicts.append(
            ApprovalVerdict(
                item.signer,
                approval.environment,
                format_time(approval.time),
                approval.comment,
                reason is None,
                reason or "counted",
                item.source,
                duplicate,
            )
        )
    return tuple(verdicts)


def _approval_time(item: Evidence) -> str:
    predicate = item.predicate if isinstance(item.predicate, dict) else {}
    return str(predicate.get("time", ""))


@dataclass(frozen=True)
class _Context:
    facts: VersionFacts
    env: Environment
    rules: Approvals
    now: datetime
    allowed: set[str]
    built_by: set[str]


def _approval_problem(ctx: _Context, item: Evidence, approval: Approval) -> str | None:
    """Why one approval does not count on its own (None: it counts, once per approver)."""
    facts, env, rules = ctx.facts, ctx.env, ctx.rules
    if item.digest != facts.digest or approval.digest != facts.digest:
        return f"for image {_short(approval.digest)}, not {_short(facts.digest)}"
    if approval.model != facts.model or approval.version != facts.version:
        return (
            f"for {approval.model} version {approval.version}, "
            f"not {facts.model} version {facts.version}"
        )
    if approval.environment != env.name:
        return f"an approval for {approval.environment}, not {env.name}"
    if item.signer not in ctx.allowed:
        return f"{item.signer} may not approve promotions to {env.name}"
    if rules.separation_of_duties and item.signer in ctx.built_by:
        return f"self-approval: {item.signer} signed the image (separation of duties)"
    if approval.time > ctx.now + FUTURE_SKEW:
        return f"dated {format_time(approval.time)}, in the future"
    if rules.max_age is not None and ctx.now - approval.time > rules.max_age:
        return (
            f"expired: given {format_time(approval.time)}, "
            f"older than the max-age of {_duration(rules.max_age)}"
        )
    return None


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _approvals_gate(
    policy: Policy,
    env: Environment,
    rules: Approvals,
    verdicts: Sequence[ApprovalVerdict],
    evidence: EvidenceReport,
) -> GateResult:
    names = [s.name for s in policy.approvers(env)]
    required = f"{rules.required} distinct of {', '.join(names) or 'nobody'}"
    if rules.separation_of_duties:
        required += ", not the builder"
    good = sorted({v.approver for v in verdicts if v.counted})
    duplicates = sum(v.duplicate for v in verdicts)
    refused_count = sum(not v.counted and not v.duplicate for v in verdicts)
    # Duplicates apart: "2 counted, 2 not counted" for two approvals stored in both formats
    # reads as two refusals to whoever approves.
    found = f"{len(good)} counted"
    if refused_count:
        found += f", {refused_count} not counted"
    if duplicates:
        found += f", {duplicates} duplicate{'s' if duplicates != 1 else ''}"
    ok = len(good) >= rules.required
    why = ""
    if not ok:
        short = rules.required - len(good)
        why = f"{short} approval{'s' if short != 1 else ''} short"
        refused = [f"{v.approver}: {v.reason}" for v in verdicts if not v.counted]
        refused += _rejections_about(EvidenceType.APPROVAL, evidence)
        if refused:
            why += "; not counted: " + "; ".join(refused)
    return GateResult("approvals", required, found, ", ".join(good), ok, why)
