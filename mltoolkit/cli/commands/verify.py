"""`mltoolkit verify IMAGE[@DIGEST]`: check the signatures stored next to an image."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mltoolkit.cli.context import emit, log, settings

if TYPE_CHECKING:
    from mltoolkit.signing.verify import Report

F = TypeVar("F", bound=Callable[..., Any])


def identity_options(command: F) -> F:
    """The trust options shared by verify and verify-attestation."""
    options = [
        click.option(
            "--key", "keys", multiple=True, metavar="FILE", help="Trusted public key (repeatable)."
        ),
        click.option(
            "--certificate-identity", metavar="ID", help="Keyless: exact signer identity."
        ),
        click.option(
            "--certificate-identity-regexp", metavar="RE", help="Keyless: identity pattern."
        ),
        click.option(
            "--certificate-oidc-issuer", metavar="URL", help="Keyless: exact OIDC issuer."
        ),
        click.option(
            "--certificate-oidc-issuer-regexp", metavar="RE", help="Keyless: issuer pattern."
        ),
        click.option(
            "--certificate-claim",
            "certificate_claims",
            multiple=True,
            metavar="NAME=VALUE",
            help="Keyless: a Fulcio certificate claim that must fit too, as in the policy's "
            "claims: (source-repository-uri=https://github.com/OWNER/REPO; NAME-regexp=RE "
            "matches the whole value). Repeatable.",
        ),
        click.option(
            "--signed-identity",
            "signed_identities",
            multiple=True,
            metavar="REPO",
            help="Also accept signatures made for this repository (e.g. before a promotion copy).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("verify")
@click.argument("image")
@identity_options
def verify(
    *,
    image: str,
    keys: tuple[str, ...],
    certificate_identity: str | None,
    certificate_identity_regexp: str | None,
    certificate_oidc_issuer: str | None,
    certificate_oidc_issuer_regexp: str | None,
    certificate_claims: tuple[str, ...],
    signed_identities: tuple[str, ...],
) -> None:
    """Verify IMAGE's signatures (referrers, tag fallback and cosign's .sig tag).

    Exit 1 when no signature verifies, naming each one found and why it was rejected.
    """
    from mltoolkit.errors import DeniedError
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.signing import cli_support
    from mltoolkit.signing.target import resolved_target
    from mltoolkit.signing.verify import verify_signatures

    trust = cli_support.build_trust(
        keys,
        identity=certificate_identity,
        identity_regexp=certificate_identity_regexp,
        issuer=certificate_oidc_issuer,
        issuer_regexp=certificate_oidc_issuer_regexp,
        signed_identities=signed_identities,
        claims=certificate_claims,
    )
    ref = ImageRef.parse(image)
    with cli_support.open_client(settings().insecure_registries) as client:
        target = resolved_target(client, ref)
        if ref.digest is None:
            log(f"{ref} resolved to {target.digest}")
        report = verify_signatures(client, target, trust)
    publish_verdict("signatures", str(target), report)
    if not report.verified:
        raise DeniedError(
            _nothing_verified("signature", str(target), trust.describe(), report.rejected)
        )
    lines = [f"Verified {target}"]
    lines += [f"  ok: {v.source} signed by {v.signer}" for v in report.verified]
    lines += [f"  ignored: {source}: {reason}" for source, reason in report.rejected]
    emit(report.as_dict(), "\n".join(lines))


def publish_verdict(
    what: str, target: str, report: Report, extra: dict[str, str] | None = None
) -> None:
    """In CI: outputs ``verified`` (true/false), ``digest``, ``signers`` and a job summary."""
    from mltoolkit.cli.commands.sign import publish_to_ci

    signers = list(dict.fromkeys(v.signer for v in report.verified))
    outputs = {
        "verified": "true" if report.verified else "false",
        "digest": target.rpartition("@")[2],
        "signers": ", ".join(signers),
        **(extra or {}),
    }
    state = "verified" if report.verified else "NOT verified"
    rows = [("image", target), ("signers", outputs["signers"] or "none")]
    rows += [(key, value) for key, value in (extra or {}).items()]
    details = {f"ok: {v.source}": v.signer for v in report.verified}
    details |= {f"ignored: {source}": reason for source, reason in report.rejected}
    publish_to_ci(outputs, f"{what.capitalize()} {state}: `{target}`", rows, details)


def _nothing_verified(kind: str, target: str, tried: str, rejected: list[tuple[str, str]]) -> str:
    if not rejected:
        return (
            f"no {kind} found for {target} (looked in its referrers, the sha256-<hex> tag and "
            f"cosign's .{'sig' if kind == 'signature' else 'att'} tag); keys tried: {tried}"
        )
    found = "; ".join(f"{source}: {reason}" for source, reason in rejected)
    return f"no {kind} of {target} verifies with {tried}: {found}"
