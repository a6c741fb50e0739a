"""`mltoolkit audit`: which version was where, who approved it, on what evidence; verified."""

from __future__ import annotations

from pathlib import Path

import click

from mltoolkit.cli.context import emit, settings


@click.command("audit")
@click.argument("model")
@click.option("--env", "environment", metavar="ENV", help="Only this environment.")
@click.option("--at", "at_text", metavar="TIME", help="RFC 3339 time (default: now).")
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Audit log file (default: $MLTOOLKIT_AUDIT_LOG, else next to the MLflow store).",
)
def audit(
    *, model: str, environment: str | None, at_text: str | None, audit_log: Path | None
) -> None:
    """Tell which version of MODEL was in each environment at TIME, who approved it and what
    evidence it had; verify the log's hash chain and signatures (exit 1 naming any entry that
    was removed or edited, or an alias the log does not explain)."""
    from datetime import UTC, datetime

    from mltoolkit.approvals.record import parse_time
    from mltoolkit.audit.trail import audit as run_audit
    from mltoolkit.audit.trail import render
    from mltoolkit.cli.commands.promote import deny
    from mltoolkit.errors import InputError
    from mltoolkit.policy.loader import require_policy
    from mltoolkit.promote.session import open_session

    now = datetime.now(UTC)
    at = now
    if at_text:
        try:
            at = parse_time(at_text)
        except ValueError:
            raise InputError(
                f"{at_text!r} is not a time", where="--at", fix="use RFC 3339: 2026-11-27T10:00:00Z"
            ) from None
    policy = require_policy(settings())
    if environment is not None and environment not in policy.environments:
        raise InputError(
            f"unknown environment {environment!r}",
            where="--env",
            fix=f"the policy defines: {', '.join(policy.environments) or 'none'}",
        )
    with open_session(settings(), audit_log, policy=policy) as session:
        aliases = None if at_text else dict(session.store.get_model(model)["aliases"])
        trail = run_audit(
            session.policy,
            session.audit_path,
            model,
            environment=environment,
            at=at,
            aliases_now=aliases,
        )
    emit(trail.to_dict(), render(trail))
    if not trail.ok:
        deny(
            f"the audit trail does not verify: {trail.problems[0]}",
            str(trail.path),
            "restore the log from a backup; every problem is listed above",
        )
