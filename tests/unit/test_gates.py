"""Gate evaluation without services: each gate failing on its own, naming why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mltoolkit.approvals.record import approval_predicate
from mltoolkit.evidence.collect import Evidence, EvidenceReport, Rejected
from mltoolkit.evidence.types import APPROVAL, PREDICATE_TYPES, SCAN_RESULT
from mltoolkit.policy.model import (
    REQUIRABLE_EVIDENCE as REQUIRABLE,
)
from mltoolkit.policy.model import (
    Approvals,
    Environment,
    EvidenceType,
    KeySigner,
    Policy,
    Threshold,
    Trust,
)
from mltoolkit.promote.gates import Evaluation, VersionFacts, evaluate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
E = EvidenceType
SBOM = "https://cyclonedx.org/bom"


def _policy(**approvals: Any) -> Policy:
    keys = {n: KeySigner(n, path=Path(f"/k/{n}.pub")) for n in ("ci", "alice", "bob", "mallory")}
    trust = Trust(
        keys=keys,
        evidence={
            E.SIGNATURE: ("ci", "alice"),
            E.SBOM: ("ci",),
            E.VULNERABILITY_SCAN: ("ci",),
            E.APPROVAL: ("alice", "bob", "ci"),
            E.PROMOTION: ("ci",),
        },
    )
    rules = {
        "required": 2,
        "from_signers": ("alice", "bob", "ci"),
        "separation_of_duties": True,
        "max_age": timedelta(days=7),
    } | approvals
    return Policy(
        path=Path("/p/mltoolkit.yaml"),
        trust=trust,
        environments={
            "staging": Environment(
                "staging",
                "r/staging",
                requires=(E.SIGNATURE, E.SBOM, E.VULNERABILITY_SCAN),
                metrics={"auc": Threshold(">=", 0.9)},
            ),
            "production": Environment(
                "production",
                "r/production",
                from_env="staging",
                requires=(E.SIGNATURE, E.SBOM, E.VULNERABILITY_SCAN),
                metrics={"auc": Threshold(">=", 0.92)},
                approvals=Approvals(**rules),
            ),
        },
    )


def _facts(**overrides: Any) -> VersionFacts:
    values: dict[str, Any] = {
        "model": "fraud",
        "version": 3,
        "image": f"r/build@{DIGEST}",
        "digest": DIGEST,
        "metrics": {"auc": 0.95},
        "aliases": ("staging",),
        "run_id": "run1",
    }
    return VersionFacts(**(values | overrides))


def _ev(kind: str, signer: str = "ci", predicate: Any = None, digest: str = DIGEST) -> Evidence:
    return Evidence(kind, f"type/{kind}", predicate or {}, signer, None, digest, f"src-{kind}")


def _approval(
    signer: str,
    *,
    env: str = "production",
    age: timedelta = timedelta(hours=1),
    digest: str = DIGEST,
    version: int = 3,
) -> Evidence:
    predicate = approval_predicate(
        model="fraud",
        version=version,
        digest=digest,
        environment=env,
        approver=signer,
        time=NOW - age,
        comment=f"ok from {signer}",
    )
    return _ev("approval", signer, predicate)


def _report(*items: Evidence, rejected: list[tuple[str, str]] | None = None) -> EvidenceReport:
    return EvidenceReport(DIGEST, list(items), list(rejected or []))


def _full(*extra: Evidence) -> EvidenceReport:
    scan = {"scanner": {"result": {"passed": True}}}
    return _report(_ev("signature"), _ev("sbom"), _ev("vulnerability-scan", predicate=scan), *extra)


def _gate(evaluation: Evaluation, name: str) -> Any:
    return next(g for g in evaluation.gates if g.gate == name)


def test_everything_present_passes() -> None:
    report = _full(_approval("alice"), _approval("bob"))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert result.passed, [g.to_dict() for g in result.failed]
    assert _gate(result, "approvals").verified_by == "alice, bob"
    assert _gate(result, "sbom").verified_by == "ci"


def test_missing_evidence_fails_naming_the_type() -> None:
    report = _report(_ev("signature"), _ev("vulnerability-scan"))
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert [g.gate for g in result.failed] == ["sbom"]
    assert "no verified sbom evidence" in _gate(result, "sbom").why


def test_untrusted_signer_is_named() -> None:
    reason = "signed by mallory, who is not trusted for sbom evidence"
    rejected = [Rejected("att layer 0", reason, SBOM)]
    report = _report(_ev("signature"), _ev("vulnerability-scan"), rejected=rejected)
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert "mallory, who is not trusted for sbom evidence" in _gate(result, "sbom").why


def test_evidence_for_another_digest_does_not_count() -> None:
    rejected = [
        Rejected("att layer 1", f"signed by ci but its subject is {OTHER}, not {DIGEST}", SBOM)
    ]
    report = _report(
        _ev("signature"), _ev("vulnerability-scan"), _ev("sbom", digest=OTHER), rejected=rejected
    )
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    sbom = _gate(result, "sbom")
    assert not sbom.passed
    assert f"its subject is {OTHER}" in sbom.why


def test_metric_below_threshold() -> None:
    result = evaluate(_policy(), "staging", _facts(metrics={"auc": 0.85}), _full(), NOW)
    assert [g.gate for g in result.failed] == ["metric auc"]
    assert _gate(result, "metric auc").why == "auc = 0.85 is not >= 0.9"


def test_missing_metric() -> None:
    result = evaluate(_policy(), "staging", _facts(metrics={}), _full(), NOW)
    assert "has no metric 'auc'" in _gate(result, "metric auc").why


def test_failed_scan_verdict_does_not_count() -> None:
    scan = {"scanner": {"result": {"passed": False}}}
    report = _report(_ev("signature"), _ev("sbom"), _ev("vulnerability-scan", predicate=scan))
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert "the scan it attests failed its gate" in _gate(result, "vulnerability-scan").why


def test_one_approval_short() -> None:
    result = evaluate(_policy(), "production", _facts(), _full(_approval("alice")), NOW)
    approvals = _gate(result, "approvals")
    assert [g.gate for g in result.failed] == ["approvals"]
    assert approvals.why.startswith("1 approval short")
    assert approvals.found == "1 counted"


def test_self_approval_under_separation_of_duties() -> None:
    # alice signed the image and approves it.
    report = _full(_ev("signature", "alice"), _approval("alice"), _approval("bob"))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    approvals = _gate(result, "approvals")
    assert not approvals.passed
    assert "self-approval: alice signed the image (separation of duties)" in approvals.why
    relaxed = evaluate(_policy(separation_of_duties=False), "production", _facts(), report, NOW)
    assert relaxed.passed


def test_expired_approval() -> None:
    report = _full(_approval("alice"), _approval("bob", age=timedelta(days=8)))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert "bob: expired: given 2026-11-19T12:00:00Z, older than the max-age of 7d" in (
        _gate(result, "approvals").why
    )


def test_staging_approval_used_for_production() -> None:
    report = _full(_approval("alice"), _approval("bob", env="staging"))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert "bob: an approval for staging, not production" in _gate(result, "approvals").why


def test_approval_for_another_version_or_digest() -> None:
    report = _full(_approval("alice", version=2), _approval("bob", digest=OTHER))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    why = _gate(result, "approvals").why
    assert "alice: for fraud version 2, not fraud version 3" in why
    assert f"bob: for image {OTHER[:19]}" in why


def test_duplicate_approver_counted_once() -> None:
    report = _full(_approval("alice"), _approval("alice", age=timedelta(hours=2)))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    approvals = _gate(result, "approvals")
    assert approvals.found == "1 counted, 1 duplicate"
    assert "alice: a duplicate: alice is counted once" in approvals.why


def test_approvals_stored_in_both_formats_are_duplicates_not_refusals() -> None:
    # Each approval as an .att layer and as a bundle, plus one that does not count.
    report = _full(
        _approval("alice"),
        _approval("alice"),
        _approval("bob"),
        _approval("bob"),
        _approval("carol", env="staging"),
    )
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    approvals = _gate(result, "approvals")
    assert approvals.passed
    assert approvals.found == "2 counted, 1 not counted, 2 duplicates"
    dupes = [v.approver for v in result.approvals if v.duplicate]
    assert dupes == ["alice", "bob"]
    # A duplicate that also fails on its own is a refusal, not a duplicate.
    late = _full(_approval("alice"), _approval("alice", env="staging"), _approval("bob"))
    found = _gate(evaluate(_policy(), "production", _facts(), late, NOW), "approvals").found
    assert found == "2 counted, 1 not counted"


def test_approver_not_in_the_list() -> None:
    report = _full(_approval("alice"), _approval("bob"))
    result = evaluate(_policy(from_signers=("alice", "ci")), "production", _facts(), report, NOW)
    assert "bob: bob may not approve promotions to production" in _gate(result, "approvals").why


def test_future_dated_approval() -> None:
    report = _full(_approval("alice"), _approval("bob", age=-timedelta(hours=1)))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert "in the future" in _gate(result, "approvals").why


def test_untrusted_approval_is_reported() -> None:
    reason = "signed by mallory, who is not trusted for approval evidence"
    rejected = [Rejected("att layer 3", reason, APPROVAL)]
    report = _full(_approval("alice"))
    report.rejected.extend(rejected)
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert "mallory, who is not trusted for approval evidence" in _gate(result, "approvals").why


def test_forged_mlflow_tags_do_not_count() -> None:
    tags = {"mltoolkit.scan.passed": "true", "mltoolkit.evidence.sbom": "verified"}
    report = _report(_ev("signature"))
    result = evaluate(_policy(), "staging", _facts(tags=tags), report, NOW)
    scan = _gate(result, "vulnerability-scan")
    assert not scan.passed
    assert "MLflow tag mltoolkit.scan.passed='true' claims it, but tags are not evidence" in (
        scan.why
    )
    assert not _gate(result, "sbom").passed


def test_from_environment_required() -> None:
    report = _full(_approval("alice"), _approval("bob"))
    result = evaluate(_policy(), "production", _facts(aliases=()), report, NOW)
    assert [g.gate for g in result.failed] == ["from staging"]
    assert "promote version 3 to staging first" in _gate(result, "from staging").why
    rollback = evaluate(
        _policy(), "production", _facts(aliases=(), previously_in=("staging",)), report, NOW
    )
    assert rollback.passed


@pytest.mark.parametrize("predicate", [{}, {"schema": "x"}, "text"])
def test_malformed_approval_is_not_counted(predicate: Any) -> None:
    report = _full(_ev("approval", "alice", predicate), _approval("bob"))
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    assert "alice: not a mltoolkit.approval/v1 predicate" in _gate(result, "approvals").why


# Rejected evidence reaches a gate by the predicate type it claimed, never by words in its reason.


def test_rejection_reaches_the_gate_of_its_type_not_the_one_its_reason_names() -> None:
    # A scan attestation whose reason happens to name sbom evidence.
    reason = "signed by mallory, who is not trusted for sbom evidence"
    report = _report(_ev("signature"), rejected=[Rejected("att layer 0", reason, SCAN_RESULT)])
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert reason in _gate(result, "vulnerability-scan").why
    assert reason not in _gate(result, "sbom").why


def test_rejection_with_no_keyword_reaches_its_gate_only() -> None:
    report = _report(
        _ev("signature"), rejected=[Rejected("referrer sha256:c", "bad signature", SBOM)]
    )
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert _gate(result, "sbom").why.endswith(": bad signature")
    assert "bad signature" not in _gate(result, "vulnerability-scan").why


def test_rejected_approval_reaches_the_approvals_gate_whatever_its_reason_says() -> None:
    unsaid = Rejected("att layer 4", "signature does not verify", APPROVAL)
    misleading = Rejected("att layer 5", "an sbom by mallory, no approval of ours", SBOM)
    report = _full(_approval("alice"))
    report.rejected.extend([unsaid, misleading])
    result = evaluate(_policy(), "production", _facts(), report, NOW)
    approvals = _gate(result, "approvals").why
    assert "not counted: signature does not verify" in approvals
    assert "no approval of ours" not in approvals
    # sbom evidence is verified here, so its gate passes and shows no rejection either.
    assert _gate(result, "sbom").passed


def test_rejection_of_a_type_no_gate_checks_is_shown_nowhere() -> None:
    stray = Rejected("att layer 6", "approval sbom vulnerability-scan", "https://example.com/x/v1")
    report = _report(rejected=[stray])
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    assert all("approval sbom" not in g.why for g in result.gates)


def test_rejection_whose_type_could_not_be_read_is_shown_on_every_failing_gate() -> None:
    report = _report(_ev("signature"), rejected=[Rejected("att layer 7", "not a DSSE envelope")])
    result = evaluate(_policy(), "staging", _facts(), report, NOW)
    for name in ("sbom", "vulnerability-scan"):
        assert "not a DSSE envelope (its type could not be read)" in _gate(result, name).why
    assert "DSSE" not in _gate(result, "signature").why


@pytest.mark.parametrize(
    ("predicate_type", "kind"),
    [(uri, kind) for uri, kind in PREDICATE_TYPES.items() if kind in {str(k) for k in REQUIRABLE}],
)
def test_every_known_predicate_type_reaches_its_gate(predicate_type: str, kind: str) -> None:
    policy = _policy()
    env = Environment("lab", "r/lab", requires=REQUIRABLE)
    policy = Policy(path=policy.path, trust=policy.trust, environments={"lab": env})
    report = _report(rejected=[Rejected("item", "refused", predicate_type)])
    result = evaluate(policy, "lab", _facts(), report, NOW)
    shown = [g.gate for g in result.gates if g.why.endswith(": refused")]
    assert shown == [kind]
