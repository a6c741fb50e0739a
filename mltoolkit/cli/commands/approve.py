"""`mltoolkit approve`: a release manager's signed approval of one version for one environment."""

from __future__ import annotations

import click

from mltoolkit.cli.context import emit, log, settings


@click.command("approve")
@click.argument("model")
@click.option("--version", "version_text", required=True, metavar="N", help="Model version.")
@click.option("--env", "environment", required=True, metavar="ENV", help="Environment approved.")
@click.option("--key", "key_ref", metavar="FILE|URI", help="The approver's private key.")
@click.option("--keyless", is_flag=True, help="Sign with the CI's OIDC identity (Sigstore).")
@click.option("--comment", default="", metavar="TEXT", help="Why it is approved.")
def approve(
    *,
    model: str,
    version_text: str,
    environment: str,
    key_ref: str | None,
    keyless: bool,
    comment: str,
) -> None:
    """Approve MODEL version N for ENV: a signed attestation on the version's image digest.

    It names the model, version, digest, environment, approver, time and comment; in CI, the
    run (platform, workflow, run URL, actor) whose protected environment or approval rule let
    the job run, and the platform's own approval of it (GitHub environment reviewers, GitLab
    deployment approvals; GITHUB_TOKEN, MLTOOLKIT_GITLAB_TOKEN or CI_JOB_TOKEN read it).
    `promote` counts it per distinct trusted approver. Key password from
    MLTOOLKIT_KEY_PASSWORD.
    """
    from datetime import UTC, datetime

    from mltoolkit.approvals.give import approve as give
    from mltoolkit.approvals.give import check_environment
    from mltoolkit.approvals.platform import platform_approval
    from mltoolkit.ci import detect
    from mltoolkit.errors import InputError
    from mltoolkit.promote.session import open_session, parse_version

    if bool(key_ref) == keyless:
        raise InputError("pass exactly one of --key and --keyless", where="mltoolkit approve")
    version = parse_version(version_text)
    platform = detect()
    signer = None
    token = None
    if key_ref:
        from mltoolkit.signing.keys import load_signer

        signer = load_signer(key_ref)
    else:
        from mltoolkit.signing.keyless import id_token

        token = id_token(platform.name)
    with open_session(settings()) as session:
        log(f"approving {model} version {version} for {environment}")
        check_environment(session.policy, environment)
        recorded, platform_warning = platform_approval(platform, environment)
        if platform_warning:
            platform.warning(platform_warning)
        result = give(
            session.policy,
            session.store,
            session.client,
            model=model,
            version=version,
            environment=environment,
            comment=comment,
            signer=signer,
            keyless_token=token,
            run_info=platform.run_info(),
            now=datetime.now(UTC),
            platform_approval=recorded,
        )
    if result.warning:
        log(f"warning: {result.warning}")
        if platform.name != "local":
            platform.warning(result.warning)
    who = result.approver_name or result.predicate["approver"]
    lines = [
        f"Approved {model} version {version} for {environment} as {who}",
        f"  image: {result.image}",
        f"  time:  {result.predicate['time']}",
    ]
    lines += [f"  {kind}: {what}" for kind, what in result.written.items()]
    if recorded is not None:
        reviewers = ", ".join(r["reviewer"] for r in recorded.get("reviewers", [])) or "none"
        lines.append(f"  {recorded['platform']} reviewers: {reviewers}")
    if platform.name != "local":
        platform.summary(
            f"### Approval\n\n{who} approved `{model}` version {version} for "
            f"**{environment}** (`{result.image}`){': ' + comment if comment else ''}\n"
        )
    emit(result.to_dict(), "\n".join(lines))
