"""`mltoolkit attest` and `mltoolkit verify-attestation`: signed in-toto Statements."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mltoolkit.cli.commands.sign import publish_to_ci, written_text
from mltoolkit.cli.commands.verify import _nothing_verified, identity_options, publish_verdict
from mltoolkit.cli.context import emit, log, settings


@click.command("attest")
@click.argument("image")
@click.option(
    "--type", "type_", required=True, metavar="TYPE", help="cosign short name or predicate URI."
)
@click.option(
    "--predicate",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The predicate (JSON).",
)
@click.option("--key", "key_ref", metavar="FILE|URI", help="Private key file or KMS URI.")
@click.option("--keyless", is_flag=True, help="Sign with the CI's OIDC identity (Sigstore).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["legacy", "bundle", "both"]),
    default="both",
    show_default=True,
    help="legacy: cosign 2.x .att tag; bundle: cosign 3.x Sigstore bundle referrer.",
)
def attest(
    *, image: str, type_: str, predicate: Path, key_ref: str | None, keyless: bool, fmt: str
) -> None:
    """Attach a signed in-toto Statement (subject: IMAGE's digest) to IMAGE@DIGEST.

    TYPE: slsaprovenance1, cyclonedx, spdxjson, vuln, openvex, custom (and cosign's other short
    names) or a predicate type URI.
    """
    from mltoolkit.errors import InputError
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.signing import cli_support, dsse
    from mltoolkit.signing.attest import attest_image, predicate_type_uri, read_predicate
    from mltoolkit.signing.sign import SignResult
    from mltoolkit.signing.target import pinned_target

    if bool(key_ref) == keyless:
        raise InputError("pass exactly one of --key and --keyless", where="mltoolkit attest")
    predicate_type = predicate_type_uri(type_)
    document = read_predicate(predicate)
    ref = ImageRef.parse(image)
    token = ""
    if keyless:
        from mltoolkit.signing import keyless as keyless_mod

        if fmt == "legacy":
            raise InputError(
                "keyless attestations are written only in the bundle format",
                where="--format",
                fix="use --format bundle (or both) with --keyless",
            )
        token = keyless_mod.id_token(cli_support.platform_name())
    with cli_support.open_client(settings().insecure_registries) as client:
        target = pinned_target(client, ref, action="attest")
        if keyless:
            from mltoolkit.signing.sign import attach_keyless_bundle

            stmt = dsse.statement(target.name, target.digest.hex, predicate_type, document)
            result = SignResult(str(target), "keyless (OIDC)")
            result.written["bundle"] = attach_keyless_bundle(
                client, target, stmt, predicate_type, token
            )
        else:
            from mltoolkit.signing.keys import load_signer

            signer = load_signer(str(key_ref))
            log(f"attesting {predicate_type} for {target} with {signer.name}")
            result = attest_image(client, target, signer, predicate_type, document, fmt)
    doc = result.as_dict() | {"predicate_type": predicate_type}
    outputs = {
        "digest": str(target.digest),
        "predicate-type": predicate_type,
        "attestation": written_text(result.written),
    }
    rows = [("image", str(target)), ("predicate type", predicate_type), ("signer", result.signer)]
    publish_to_ci(outputs, f"Attested `{target}`", rows, result.written)
    lines = [f"Attested {predicate_type} for {result.image} with {result.signer}"]
    lines += [f"  {kind}: {what}" for kind, what in result.written.items()]
    emit(doc, "\n".join(lines))


@click.command("verify-attestation")
@click.argument("image")
@click.option(
    "--type", "type_", default=None, metavar="TYPE", help="Keep only this predicate type."
)
@identity_options
def verify_attestation(
    *,
    image: str,
    type_: str | None,
    keys: tuple[str, ...],
    certificate_identity: str | None,
    certificate_identity_regexp: str | None,
    certificate_oidc_issuer: str | None,
    certificate_oidc_issuer_regexp: str | None,
    certificate_claims: tuple[str, ...],
    signed_identities: tuple[str, ...],
) -> None:
    """Print IMAGE's verified attestations (in-toto Statements) as JSON; exit 1 when none verify."""
    from mltoolkit.errors import DeniedError
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.signing import cli_support
    from mltoolkit.signing.attest import predicate_type_uri
    from mltoolkit.signing.target import resolved_target
    from mltoolkit.signing.verify import verify_attestations

    trust = cli_support.build_trust(
        keys,
        identity=certificate_identity,
        identity_regexp=certificate_identity_regexp,
        issuer=certificate_oidc_issuer,
        issuer_regexp=certificate_oidc_issuer_regexp,
        signed_identities=signed_identities,
        claims=certificate_claims,
    )
    predicate_type = predicate_type_uri(type_) if type_ else None
    ref = ImageRef.parse(image)
    with cli_support.open_client(settings().insecure_registries) as client:
        target = resolved_target(client, ref)
        report = verify_attestations(client, target, trust, predicate_type)
    found = sorted({str(item.predicate_type) for item in report.verified})
    publish_verdict("attestations", str(target), report, {"predicate-types": ", ".join(found)})
    for source, reason in report.rejected:
        log(f"ignored: {source}: {reason}")
    if not report.verified:
        kind = f"{predicate_type} attestation" if predicate_type else "attestation"
        raise DeniedError(_nothing_verified(kind, str(target), trust.describe(), report.rejected))
    for item in report.verified:
        log(f"ok: {item.source} ({item.predicate_type}) signed by {item.signer}")
    statements = [item.statement for item in report.verified]
    if settings().json_output:
        emit(report.as_dict() | {"statements": statements})
    else:
        click.echo(json.dumps(statements, indent=2, sort_keys=True))
