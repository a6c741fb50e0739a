"""`mltoolkit report`: the page a release manager reads before approving a version."""

from __future__ import annotations

from pathlib import Path

import click

from mltoolkit.cli.context import emit, log, settings


@click.command("report")
@click.argument("model")
@click.option("--version", "version_text", required=True, metavar="N", help="Model version.")
@click.option(
    "--html",
    "html_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here.",
)
@click.option(
    "--env",
    "environment",
    metavar="ENV",
    help="Environment to assess for (default: the next one the version is not in).",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Audit log file (default: $MLTOOLKIT_AUDIT_LOG, else next to the MLflow store).",
)
def report(
    *,
    model: str,
    version_text: str,
    html_path: Path,
    environment: str | None,
    audit_log: Path | None,
) -> None:
    """Write one self-contained HTML page about MODEL version N: its lineage, each gate with
    its evidence, findings set aside and why, approvals so far and what runs in each
    environment now. Exit 0 whatever the gates say (`promote --dry-run` is the gate)."""
    from datetime import UTC, datetime

    from mltoolkit.audit.history import latest, promotions
    from mltoolkit.files import write_report
    from mltoolkit.promote.release_page import environment_order, render_page
    from mltoolkit.promote.run import assess
    from mltoolkit.promote.session import open_session, parse_version

    version = parse_version(version_text)
    now = datetime.now(UTC)
    with open_session(settings(), audit_log) as session:
        policy = session.policy
        if environment is not None and environment not in policy.environments:
            from mltoolkit.errors import InputError

            known = ", ".join(policy.environments) or "none"
            raise InputError(
                f"unknown environment {environment!r}",
                where="--env",
                fix=f"the policy defines: {known}",
            )
        aliases = session.store.get_model(model)["aliases"]
        order = environment_order(policy)
        target = environment or next(
            (env for env in order if aliases.get(env) != version), order[-1] if order else ""
        )
        log(f"assessing {model} version {version} for {target}")
        assessment = assess(
            policy,
            session.store,
            session.client,
            model=model,
            version=version,
            environment=target,
            audit_path=session.audit_path,
            now=now,
        )
        history = promotions(assessment.audit_entries, model)
        images = {env: p.image for env, p in latest(history).items()}
    page = render_page(assessment, environments=order, images=images, generated=now)
    try:
        write_report(html_path, page)
    except OSError as exc:
        from mltoolkit.errors import InputError

        raise InputError(f"cannot write the page: {exc.strerror}", where=str(html_path)) from None
    emit(
        {
            "ok": True,
            "html": str(html_path),
            "environment": target,
            "passed": assessment.passed,
            **assessment.evaluation.to_dict(),
        },
        f"Wrote {html_path}: {model} version {version} for {target} "
        f"({'all gates pass' if assessment.passed else 'gates fail'})",
    )
