"""`mltoolkit promote`: move a model version into an environment when its gates pass."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mltoolkit.cli.context import emit, log, settings

if TYPE_CHECKING:
    from mltoolkit.promote.run import Assessment


def publish(assessment: Assessment, outputs: dict[str, str]) -> None:
    """The gate table as the CI job summary, and step outputs (nothing when run locally)."""
    from mltoolkit.ci import detect
    from mltoolkit.promote.render import markdown_table

    platform = detect()
    if platform.name == "local":
        return
    platform.summary(markdown_table(assessment.evaluation))
    platform.set_outputs(outputs)
    for gate in assessment.evaluation.failed:
        platform.error(f"gate {gate.gate} failed: {gate.why}")


def deny(message: str, where: str, fix: str) -> NoReturn:
    """Exit 1 with one line (as the only stdout document under --json, the result is kept)."""
    from mltoolkit.errors import DeniedError

    raise DeniedError(message, where=where, fix=fix).after_result()


@click.command("promote")
@click.argument("model")
@click.option("--version", "version_text", required=True, metavar="N", help="Model version.")
@click.option("--to", "environment", required=True, metavar="ENV", help="Target environment.")
@click.option("--dry-run", is_flag=True, help="Evaluate and print the gates; change nothing.")
@click.option(
    "--key",
    "key_ref",
    metavar="FILE|URI",
    help="Key that signs the promotion record and audit entry (not needed with --dry-run).",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Audit log file (default: $MLTOOLKIT_AUDIT_LOG, else next to the MLflow store).",
)
def promote(
    *,
    model: str,
    version_text: str,
    environment: str,
    dry_run: bool,
    key_ref: str | None,
    audit_log: Path | None,
) -> None:
    """Promote MODEL version N to ENV when every gate of the policy passes.

    The gates check signed evidence on the version's image digest (never MLflow tags), the
    metrics, the environment it comes from and the approvals. Then the image and its evidence
    are copied by digest to the environment's repository, the MLflow alias ENV is moved (only
    if no other promotion moved it meanwhile) and a signed promotion record and audit entry are
    written. --dry-run: exit 0 when it would pass, 1 when not. Key password from
    MLTOOLKIT_KEY_PASSWORD.
    """
    from datetime import UTC, datetime

    from mltoolkit.errors import InputError
    from mltoolkit.promote.render import text_table
    from mltoolkit.promote.run import assess, execute
    from mltoolkit.promote.session import open_session, parse_version

    version = parse_version(version_text)
    if not dry_run and not key_ref:
        raise InputError(
            "a promotion signs its record: --key is required",
            where="mltoolkit promote",
            fix="pass --key FILE|URI (a key trusted for promotion evidence), or --dry-run",
        )
    signer = None
    if key_ref:
        from mltoolkit.signing.keys import load_signer

        signer = load_signer(key_ref)
    opts = settings()
    with open_session(opts, audit_log) as session:
        log(f"evaluating {model} version {version} for {environment}")
        assessment = assess(
            session.policy,
            session.store,
            session.client,
            model=model,
            version=version,
            environment=environment,
            audit_path=session.audit_path,
            now=datetime.now(UTC),
        )
        result: dict[str, Any] = {
            "ok": assessment.passed,
            "dry_run": dry_run,
            "current_version": assessment.current,
            **assessment.evaluation.to_dict(),
        }
        human = text_table(assessment.evaluation)
        where = f"{model} version {version} -> {environment}"
        outputs = {
            "passed": str(assessment.passed).lower(),
            "digest": assessment.state.facts.digest,
        }
        if dry_run or not assessment.passed:
            publish(assessment, outputs)
            emit(result, human)
            if not assessment.passed:
                names = ", ".join(g.gate for g in assessment.evaluation.failed)
                deny(f"gates failed: {names}", where, "see the gate table for why")
            return
        if signer is None:  # pragma: no cover - refused above
            raise InputError("--key is required", where="mltoolkit promote")
        log(f"gates pass; promoting to {assessment.destination.name}")
        outcome = execute(
            assessment,
            session.policy,
            session.store,
            session.client,
            signer,
            run_info=_run_info(),
            now=datetime.now(UTC),
        )
    result["outcome"] = outcome.to_dict()
    publish(assessment, outputs | {"status": outcome.status, "image": outcome.destination})
    verbs = {
        "promoted": f"Promoted {model} version {version} to {environment}",
        "unchanged": f"{model} version {version} is already in {environment}",
        "completed": f"Recorded the interrupted promotion of {model} version {version}",
    }
    lines = [human, "", verbs[outcome.status], f"  image: {outcome.destination}"]
    if outcome.previous_version is not None and outcome.status == "promoted":
        lines.append(f"  replaces version {outcome.previous_version}")
    if outcome.audit_seq is not None:
        lines.append(f"  audit entry {outcome.audit_seq} in {session.audit_path}")
    emit(result, "\n".join(lines))


def _run_info() -> Any:
    from mltoolkit.ci import detect

    return detect().run_info()
