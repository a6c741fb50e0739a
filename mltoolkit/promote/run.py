"""A promotion from start to end: assess the gates, then copy, move the alias and record it.

``assess`` reads and evaluates without changing anything (``--dry-run`` stops there).
``execute`` does the rest under the promotion lock of (model, environment):

1. re-read the alias: it must still point where it did when the gates were evaluated;
2. copy the image and everything attached to it into the environment's repository, by digest;
3. move the alias (the commit point);
4. write the signed promotion record on the image, the MLflow version tag, the audit entry.

A failure before 3 leaves no alias moved (a rerun copies nothing twice: blobs and manifests
already there are skipped). A failure in 4 puts the alias back. A process killed after 3 is
completed by the next run, which finds the alias moved but no audit entry for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltoolkit.approvals.record import format_time
from mltoolkit.audit.history import ACTION_PROMOTE, environments_of, latest, promotions
from mltoolkit.audit.keys import promotion_keys, trusted_name
from mltoolkit.audit.log import Entry, append_entry, verify_log
from mltoolkit.errors import DeniedError, Error, InputError
from mltoolkit.evidence.collect import EvidenceReport, collect_evidence
from mltoolkit.evidence.types import PROMOTION
from mltoolkit.models.store import ModelStore, mlflow_errors
from mltoolkit.models.tags import compact_json
from mltoolkit.oci.reference import ImageRef
from mltoolkit.promote import faults
from mltoolkit.promote.facts import VersionState, read_version
from mltoolkit.promote.gates import Evaluation, GateResult, evaluate
from mltoolkit.promote.lock import promotion_lock

if TYPE_CHECKING:
    from mltoolkit.ci.base import RunInfo
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.model import Policy
    from mltoolkit.signing.keys import Signer

PROMOTION_TAG_PREFIX = "mltoolkit.promotion."
RECORD_SCHEMA = "mltoolkit.promotion/v1"
MOVED = "the alias was moved by another promotion"


@dataclass
class Assessment:
    """Everything known before a promotion changes anything."""

    model: str
    version: int
    environment: str
    state: VersionState
    evidence: EvidenceReport
    evaluation: Evaluation
    destination: ImageRef
    audit_path: Path
    audit_problems: list[str] = field(default_factory=list)
    audit_last_version: int | None = None
    audit_entries: list[Entry] = field(default_factory=list)
    """The audit log's entries as verified for the gates (whether or not the log is intact)."""

    @property
    def current(self) -> int | None:
        """The version in the environment when the gates were evaluated."""
        return self.state.aliases.get(self.environment)

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return self.evaluation.passed


@dataclass
class Outcome:
    """What ``execute`` did."""

    status: str  # promoted | unchanged | completed
    previous_version: int | None
    destination: str
    copied: dict[str, Any] = field(default_factory=dict)
    record: str | None = None
    audit_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON view."""
        return {
            "status": self.status,
            "previous_version": self.previous_version,
            "destination": self.destination,
            "copied": self.copied,
            "record": self.record,
            "audit_seq": self.audit_seq,
        }


def assess(
    policy: Policy,
    store: ModelStore,
    client: RegistryClient,
    *,
    model: str,
    version: int,
    environment: str,
    audit_path: Path,
    now: datetime,
) -> Assessment:
    """Read the version, verify its evidence and the audit log, and evaluate every gate."""
    if environment not in policy.environments:
        known = ", ".join(policy.environments) or "none"
        raise InputError(
            f"unknown environment {environment!r}",
            where="--to",
            fix=f"the policy defines: {known}",
        )
    env = policy.environments[environment]
    check = verify_log(audit_path, promotion_keys(policy))
    history = promotions(check.entries, model) if check.ok else []
    state = read_version(store, model, version, environments_of(history, version))
    evidence = collect_evidence(client, state.image, policy.trust)
    evaluation = evaluate(policy, environment, state.facts, evidence, now)
    gates = [_image_gate(client, state), *evaluation.gates]
    gates.append(_audit_gate(audit_path, check.problems))
    evaluation = Evaluation(environment, state.facts, tuple(gates), evaluation.approvals)
    destination = ImageRef.parse(env.repository).with_digest(state.image.require_digest())
    last = latest(history).get(environment)
    return Assessment(
        model,
        version,
        environment,
        state,
        evidence,
        evaluation,
        destination,
        audit_path,
        list(check.problems),
        last.version if last else None,
        list(check.entries),
    )


def _image_gate(client: RegistryClient, state: VersionState) -> GateResult:
    digest = state.image.require_digest()
    served = client.head_manifest(state.image.repo_only(), digest)
    required = f"{state.image.name}@{str(digest)[:19]} in the registry"
    if served is None:
        return GateResult(
            "image", required, "missing", "registry", False,
            "the registry does not have the registered image: push it again or re-register",
        )  # fmt: skip
    return GateResult("image", required, "present", "registry", True, "")


def _audit_gate(path: Path, problems: list[str]) -> GateResult:
    if not problems:
        return GateResult(
            "audit log", "chain intact, entries signed", "intact", str(path), True, ""
        )
    shown = "; ".join(problems[:3])
    return GateResult(
        "audit log",
        "chain intact, entries signed",
        f"{len(problems)} problem(s)",
        str(path),
        False,
        f"{shown}; run `mltoolkit audit` and restore the log before promoting",
    )


def execute(
    assessment: Assessment,
    policy: Policy,
    store: ModelStore,
    client: RegistryClient,
    signer: Signer,
    *,
    run_info: RunInfo | None,
    now: datetime,
) -> Outcome:
    """Promote an assessment whose gates passed (DeniedError if they did not)."""
    a = assessment
    if not a.passed:
        names = ", ".join(g.gate for g in a.evaluation.failed)
        raise DeniedError(
            f"gates failed: {names}",
            where=f"{a.model} version {a.version} -> {a.environment}",
            fix="see the gate table for why",
        )
    signer_name = trusted_name(promotion_keys(policy), signer.public_key())
    if signer_name is None:
        raise InputError(
            "the policy does not trust this key for promotion evidence: "
            "its promotion record and audit entry would not verify",
            where=signer.name,
            fix="sign with a key listed under trust.evidence.promotion",
        )
    if a.current == a.version and a.audit_last_version == a.version:
        return Outcome("unchanged", a.version, str(a.destination))
    faults.checkpoint("before-lock")
    with promotion_lock(store.location, a.model, a.environment):
        now_in_env = store.get_model(a.model)["aliases"].get(a.environment)
        if now_in_env != a.current:
            raise DeniedError(
                MOVED,
                where=f"{a.model}@{a.environment}",
                fix=f"it points to version {now_in_env} now; rerun to evaluate against that",
            )
        if a.current == a.version:
            # A previous run moved the alias and died before recording it: record it now.
            previous = a.audit_last_version
            status = "completed"
            copied: dict[str, Any] = {}
        else:
            previous = a.current
            status = "promoted"
            copied = _copy(client, a)
            faults.checkpoint("after-copy")
            store.set_alias(a.model, a.environment, a.version)
        try:
            faults.checkpoint("after-alias")
            record = _record(a, client, signer, previous, run_info, now)
            entry = _audit(a, signer, previous, record, run_info, now)
            store.set_tags(
                a.model,
                a.version,
                {
                    PROMOTION_TAG_PREFIX + a.environment: compact_json(
                        {
                            "time": format_time(now),
                            "previous_version": previous,
                            "image": str(a.destination),
                            "audit_seq": entry["seq"],
                        }
                    )
                },
            )
        except Error:
            if status == "promoted":
                _restore_alias(store, a.model, a.environment, a.current)
            raise
    return Outcome(status, previous, str(a.destination), copied, record, int(entry["seq"]))


def _copy(client: RegistryClient, a: Assessment) -> dict[str, Any]:
    from mltoolkit.oci.copy import copy_attached, copy_image

    digest = a.state.image.require_digest()
    if a.destination.name == a.state.image.name:
        return {"manifests": 0, "blobs": {}, "attached": []}
    image = copy_image(client, a.state.image, a.destination)
    attached = copy_attached(client, a.state.image.repo_only(), a.destination.repo_only(), digest)
    image.merge(attached)
    return {
        "manifests": image.manifests,
        "blobs": dict(image.blobs),
        "attached": list(attached.attached),
    }


def _restore_alias(store: ModelStore, model: str, environment: str, version: int | None) -> None:
    """Put the alias back where it was (delete it when the environment was empty)."""
    if version is not None:
        store.set_alias(model, environment, version)
        return
    from mlflow import MlflowClient

    with mlflow_errors(store.location, f"remove alias {environment!r} of {model!r}"):
        client = MlflowClient(
            tracking_uri=store.location.tracking_uri, registry_uri=store.location.registry_uri
        )
        client.delete_registered_model_alias(model, environment)


def _record_predicate(
    a: Assessment, previous: int | None, run_info: RunInfo | None, now: datetime
) -> dict[str, Any]:
    return {
        "schema": RECORD_SCHEMA,
        "model": {"name": a.model, "version": a.version},
        "environment": a.environment,
        "previous_version": previous,
        "image": {
            "source": str(a.state.image),
            "destination": str(a.destination),
            "digest": a.state.facts.digest,
        },
        "gates": [g.to_dict() for g in a.evaluation.gates],
        "approvals": [v.to_dict() for v in a.evaluation.approvals if v.counted],
        "evidence": evidence_summary(a.evidence),
        "time": format_time(now),
        "ci": run_info.to_dict() if run_info is not None else None,
    }


def evidence_summary(report: EvidenceReport) -> list[dict[str, Any]]:
    """The verified evidence as the record and the audit entry list it."""
    return [
        {"type": e.type, "signer": e.signer, "predicate_type": e.predicate_type, "source": e.source}
        for e in report.verified
        if e.type not in ("approval", "promotion")
    ]


def _record(
    a: Assessment,
    client: RegistryClient,
    signer: Signer,
    previous: int | None,
    run_info: RunInfo | None,
    now: datetime,
) -> str:
    from mltoolkit.signing.attest import attest_image
    from mltoolkit.signing.target import pinned_target

    target = pinned_target(client, a.destination, action="record the promotion of")
    predicate = _record_predicate(a, previous, run_info, now)
    result = attest_image(client, target, signer, PROMOTION, predicate, "both")
    return f"{target}: " + json.dumps(result.written, sort_keys=True)


def _audit(
    a: Assessment,
    signer: Signer,
    previous: int | None,
    record: str,
    run_info: RunInfo | None,
    now: datetime,
) -> dict[str, Any]:
    fields = {
        "action": ACTION_PROMOTE,
        "time": format_time(now),
        "model": a.model,
        "environment": a.environment,
        "version": a.version,
        "previous_version": previous,
        "digest": a.state.facts.digest,
        "image": str(a.destination),
        "source_image": str(a.state.image),
        "approvals": [
            {"approver": v.approver, "time": v.time, "comment": v.comment}
            for v in a.evaluation.approvals
            if v.counted
        ],
        "evidence": evidence_summary(a.evidence),
        "gates": {g.gate: g.result for g in a.evaluation.gates},
        "actor": run_info.actor if run_info is not None else None,
        "run_url": run_info.run_url if run_info is not None else None,
        "record": record.split(": ", 1)[0],
    }
    return append_entry(a.audit_path, fields, signer)
