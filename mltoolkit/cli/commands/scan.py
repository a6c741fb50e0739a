"""``mltoolkit scan IMAGE@DIGEST``: trivy on exactly that digest, gated, with reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mltoolkit.cli.context import Settings, emit, log, settings
from mltoolkit.errors import DeniedError, Error, InputError
from mltoolkit.oci.reference import ImageRef, is_insecure
from mltoolkit.scan.db import DbOptions, default_cache_dir
from mltoolkit.scan.runner import ScanRequest, start_scan
from mltoolkit.scan.settings import Overrides, resolve

if TYPE_CHECKING:
    from mltoolkit.policy.model import Policy
    from mltoolkit.scan.runner import ScanOutcome

# NOTE: what the scan needs only after trivy has started (ignore file, gate, report writers, CI
# adapter) is imported inside the functions, so that it loads while trivy runs.

_SEVERITIES = "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"


def pinned_image(text: str, insecure: tuple[str, ...]) -> ImageRef:
    """Parse ``text`` and insist on a digest; a tag is refused with the digest it points to now."""
    ref = ImageRef.parse(text)
    if ref.digest is not None:
        return ref
    pointed = ""
    try:
        # requests is imported only when a tag has to be resolved.
        from mltoolkit.oci.registry import RegistryClient

        with RegistryClient(insecure=insecure) as client:
            pointed = f"{ref.name}@{client.resolve(ref)}"
    except (Error, ImportError):
        pointed = ""
    fix = (
        f"scan {pointed} (what {ref.tag or 'latest'} points to now)"
        if pointed
        else "pass IMAGE@sha256:<digest> (the digest printed by `mltoolkit build --push`)"
    )
    raise InputError(
        "a tag can move between the scan and the deployment: scan a digest", where=text, fix=fix
    )


def load_policy_if_any(opts: Settings) -> Policy | None:
    """The policy when one is named or ./mltoolkit.yaml exists (loader imported then)."""
    if not opts.policy_explicit and not opts.policy_path.exists():
        return None
    from mltoolkit.policy.loader import find_policy

    return find_policy(opts)


def attest_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--attest``, ``--key``, ``--keyless``, ``--attest-format``: shared by scan and sbom."""
    options = [
        click.option("--attest", is_flag=True, help="Record the result as a signed attestation."),
        click.option("--key", "key_ref", metavar="FILE|URI", help="Signing key file or KMS URI."),
        click.option("--keyless", is_flag=True, help="Sign with the CI's OIDC identity."),
        click.option(
            "--attest-format",
            type=click.Choice(["legacy", "bundle", "both"]),
            default="both",
            show_default=True,
            help="legacy: cosign 2.x .att tag; bundle: cosign 3.x Sigstore bundle referrer.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_attest_options(attest: bool, key_ref: str | None, keyless: bool) -> None:
    """Refuse --key/--keyless without --attest, and --attest without exactly one of them."""
    if (key_ref or keyless) and not attest:
        raise InputError("--key and --keyless sign attestations: add --attest", where="--attest")
    if attest and bool(key_ref) == keyless:
        raise InputError("--attest needs exactly one of --key and --keyless", where="--attest")


def attach_attestation(
    image: ImageRef,
    insecure: tuple[str, ...],
    predicate_type: str,
    predicate: Any,
    *,
    key_ref: str | None,
    fmt: str,
) -> dict[str, str]:
    """Sign a Statement about ``image`` (pinned) and store it next to the image."""
    # The signing stack (cryptography, requests) is imported only when attesting.
    from mltoolkit.signing import cli_support, dsse
    from mltoolkit.signing.target import pinned_target

    with cli_support.open_client(insecure) as client:
        target = pinned_target(client, image, action="attest")
        if key_ref is None:
            from mltoolkit.signing import keyless
            from mltoolkit.signing.sign import attach_keyless_bundle

            if fmt == "legacy":
                raise InputError(
                    "keyless attestations are written only in the bundle format",
                    where="--attest-format",
                )
            token = keyless.id_token(cli_support.platform_name())
            stmt = dsse.statement(target.name, target.digest.hex, predicate_type, predicate)
            return {"bundle": attach_keyless_bundle(client, target, stmt, predicate_type, token)}
        from mltoolkit.signing.attest import attest_image
        from mltoolkit.signing.keys import load_signer

        signer = load_signer(key_ref)
        log(f"attesting {predicate_type} for {target} with {signer.name}")
        result = attest_image(client, target, signer, predicate_type, predicate, fmt)
        return dict(result.written)


def _human(outcome: ScanOutcome) -> str:
    gate = outcome.gate
    counts = ", ".join(f"{k} {v}" for k, v in gate.counts.items())
    lines = [f"scan {gate.verdict.upper()}: {outcome.request.image}", f"  findings: {counts}"]
    for f in gate.failing:
        fixed = f" -> {f.fixed_version}" if f.fixed_version else ""
        subject = f"{f.package} {f.installed_version}{fixed}" if f.package else f.target
        lines.append(f"  FAIL {f.severity.name:<8} {f.id}  {subject}")
    for i in gate.ignored:
        lines.append(f"  ignored {i.finding.id}: {i.entry.reason} (until {i.entry.expires})")
    lines += [f"  warning: {w}" for w in outcome.warnings]
    if outcome.db is not None:
        db = outcome.db.to_dict()
        stale = " (STALE, allowed)" if outcome.db.stale else ""
        lines.append(f"  vulnerability DB: {db['age']} old{stale}")
    return "\n".join(lines)


def _preload(*, sarif: bool, gitlab: bool) -> None:
    """Import what publishing will need, while trivy still runs."""
    import mltoolkit.ci
    import mltoolkit.scan.gate
    import mltoolkit.scan.reports

    if sarif:
        import mltoolkit.scan.reports.sarif
    if gitlab:
        import mltoolkit.scan.reports.gitlab
    if mltoolkit.ci.detect().name != "local":
        import mltoolkit.scan.reports.markdown


def _publish(
    outcome: ScanOutcome,
    result: dict[str, Any],
    json_file: Path | None,
    sarif: Path | None,
    gitlab: Path | None,
) -> None:
    """Write the report files asked for and, in CI, the job summary and outputs."""
    from mltoolkit.ci import detect
    from mltoolkit.scan.reports import write_json_atomic

    # Each report module is imported only when its report is asked for.
    if json_file is not None:
        write_json_atomic(json_file, result)
    if sarif is not None:
        from mltoolkit.scan.reports.sarif import to_sarif

        write_json_atomic(sarif, to_sarif(outcome))
    if gitlab is not None:
        from mltoolkit.scan.reports.gitlab import to_gitlab

        write_json_atomic(gitlab, to_gitlab(outcome))
    platform = detect()
    if platform.name != "local":
        from mltoolkit.scan.reports.markdown import to_markdown

        platform.summary(to_markdown(outcome))
        platform.set_outputs(
            {
                "verdict": outcome.gate.verdict,
                "digest": outcome.request.digest,
                "failing": str(len(outcome.gate.failing)),
            }
        )
        for warning in outcome.warnings:
            platform.warning(warning)


@click.command("scan")
@click.argument("image")
@click.option(
    "--fail-on", metavar="SEVERITY", help=f"Least severity that fails ({_SEVERITIES}, NONE)."
)
@click.option("--report-severity", metavar="SEVERITY", help="Least severity shown in reports.")
@click.option(
    "--ignore-unfixed/--no-ignore-unfixed", default=None, help="Skip vulnerabilities with no fix."
)
@click.option(
    "--ignore-file", type=click.Path(dir_okay=False, path_type=Path), help="YAML ignore list."
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write mltoolkit's JSON result.",
)
@click.option("--sarif", type=click.Path(dir_okay=False, path_type=Path), help="Write SARIF 2.1.0.")
@click.option(
    "--gitlab-report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write GitLab's container scanning report.",
)
@click.option("--db-repository", metavar="REF", help="OCI mirror of the trivy DB (HOST/REPO:2).")
@click.option("--offline", is_flag=True, help="Use only the cached DB; download nothing.")
@click.option(
    "--allow-stale-db", is_flag=True, help="Accept a DB older than max-db-age (reported)."
)
@click.option(
    "--max-db-age", metavar="AGE", help="Oldest DB accepted, e.g. 72h or 3d (default 72h)."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="trivy cache, shared between runs.",
)
@click.option("--scanners", metavar="LIST", help="Comma-separated: vuln, secret, misconfig.")
@click.option(
    "--image-src",
    type=click.Choice(["remote", "docker"]),
    default="remote",
    show_default=True,
    help="Read the image from the registry or the local engine.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds before trivy is stopped.",
)
@attest_options
def scan(
    *,
    image: str,
    fail_on: str | None,
    report_severity: str | None,
    ignore_unfixed: bool | None,
    ignore_file: Path | None,
    json_file: Path | None,
    sarif: Path | None,
    gitlab_report: Path | None,
    db_repository: str | None,
    offline: bool,
    allow_stale_db: bool,
    max_db_age: str | None,
    cache_dir: Path | None,
    scanners: str | None,
    image_src: str,
    timeout: float,
    attest: bool,
    key_ref: str | None,
    keyless: bool,
    attest_format: str,
) -> None:
    """Scan IMAGE@DIGEST with trivy (vulnerabilities, secrets, misconfigurations) and gate it.

    Exit 0 when the gate passes, 1 when it fails, 2 on bad input, 3 when trivy, the registry
    or the vulnerability DB (missing or older than max-db-age) fails.
    """
    check_attest_options(attest, key_ref, keyless)
    opts = settings()
    policy = load_policy_if_any(opts)
    insecure = tuple(opts.insecure_registries) + (policy.registries.insecure if policy else ())
    ref = pinned_image(image, insecure)
    digest = ref.require_digest()
    resolved = resolve(
        policy.gates.scan if policy else None,
        Overrides(
            fail_on=fail_on,
            report_severity=report_severity,
            ignore_unfixed=ignore_unfixed,
            ignore_file=ignore_file,
            max_db_age=max_db_age,
            scanners=scanners,
        ),
    )
    db_insecure = False
    if db_repository:
        db_insecure = is_insecure(db_repository.split("/", 1)[0], insecure)
    target = f"{ref.name}@{digest}"
    request = ScanRequest(
        image=target,
        digest=str(digest),
        gate=resolved.gate,
        db=DbOptions(
            cache_dir=cache_dir or default_cache_dir(),
            repository=db_repository,
            offline=offline,
            max_age=resolved.max_db_age,
            allow_stale=allow_stale_db,
        ),
        ignore_file=str(resolved.ignore_file) if resolved.ignore_file else None,
        insecure=ref.is_insecure(insecure) or db_insecure,
        image_src=image_src,
        timeout=timeout,
    )
    log(f"scanning {target} ({', '.join(resolved.gate.scanners)})")
    running = start_scan(request)
    try:
        from mltoolkit.scan.ignore import load_ignore_file

        ignores = load_ignore_file(resolved.ignore_file) if resolved.ignore_file else ()
        _preload(sarif=sarif is not None, gitlab=gitlab_report is not None)
    except BaseException:
        running.cancel()
        raise
    outcome = running.finish(ignores)
    result: dict[str, Any] = outcome.to_dict()
    if attest:
        from mltoolkit.scan.predicates import VULN_PREDICATE_TYPE, vuln_predicate

        result["attestation"] = attach_attestation(
            ref.repo_only().with_digest(digest),
            insecure,
            VULN_PREDICATE_TYPE,
            vuln_predicate(outcome),
            key_ref=key_ref,
            fmt=attest_format,
        )
    _publish(outcome, result, json_file, sarif, gitlab_report)
    emit(result, _human(outcome))
    if not outcome.passed:
        failing = outcome.gate.failing
        secrets = sum(1 for f in failing if f.kind == "secret")
        denied = DeniedError(
            f"scan gate failed: {len(failing)} finding(s) fail the gate"
            + (f", {secrets} of them secrets" if secrets else ""),
            where=target,
            fix="fix them, or add ignore entries with a reason and an expiry date",
        )
        raise denied.after_result()
