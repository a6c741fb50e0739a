"""`mltoolkit sign IMAGE@DIGEST`: cosign-compatible signatures in the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mltoolkit.cli.context import emit, log, settings

if TYPE_CHECKING:
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.signing.sign import SignResult
    from mltoolkit.signing.target import Target


@click.command("sign")
@click.argument("image")
@click.option("--key", "key_ref", metavar="FILE|URI", help="Private key file or KMS URI.")
@click.option("--keyless", is_flag=True, help="Sign with the CI's OIDC identity (Sigstore).")
@click.option(
    "--annotation", "-a", "annotations", multiple=True, metavar="K=V", help="Signed annotation."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["legacy", "bundle", "both"]),
    default="both",
    show_default=True,
    help="legacy: cosign 2.x .sig tag; bundle: cosign 3.x Sigstore bundle referrer.",
)
def sign(
    image: str, key_ref: str | None, keyless: bool, annotations: tuple[str, ...], fmt: str
) -> None:
    """Sign IMAGE@DIGEST (never a tag). Signing again with the same key changes nothing.

    The key password comes from MLTOOLKIT_KEY_PASSWORD (or COSIGN_PASSWORD).
    """
    from mltoolkit.errors import InputError
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.signing import cli_support
    from mltoolkit.signing.bundle import SIGN_PREDICATE_TYPE
    from mltoolkit.signing.target import pinned_target

    if bool(key_ref) == keyless:
        raise InputError("pass exactly one of --key and --keyless", where="mltoolkit sign")
    ref = ImageRef.parse(image)
    values = cli_support.parse_annotations(annotations)
    token = _keyless_token(fmt) if keyless else ""
    with cli_support.open_client(settings().insecure_registries) as client:
        target = pinned_target(client, ref, action="sign")
        if keyless:
            result = _sign_keyless(client, target, values, token, SIGN_PREDICATE_TYPE)
        else:
            from mltoolkit.signing.keys import load_signer
            from mltoolkit.signing.sign import sign_image

            signer = load_signer(str(key_ref))
            log(f"signing {target} with {signer.name}")
            result = sign_image(client, target, signer, values, fmt)
    lines = [f"Signed {result.image} with {result.signer}"]
    lines += [f"  {kind}: {what}" for kind, what in result.written.items()]
    publish_to_ci(
        {
            "digest": str(target.digest),
            "ref": str(target),
            "signatures": written_text(result.written),
        },
        f"Signed `{target}`",
        [("image", str(target)), ("signer", result.signer)],
        result.written,
    )
    emit(result.as_dict(), "\n".join(lines))


def written_text(written: dict[str, str]) -> str:
    """One line saying what was written where, e.g. ``legacy: added to ...; bundle: ...``."""
    return "; ".join(f"{kind}: {what}" for kind, what in written.items())


def publish_to_ci(
    outputs: dict[str, str], headline: str, rows: list[tuple[str, str]], details: dict[str, str]
) -> None:
    """In CI, set the step outputs and write the job summary: the result first, then
    ``rows`` as a table and ``details`` in a collapsed ``<details>`` block."""
    from mltoolkit.ci import detect

    platform = detect()
    platform.set_outputs(outputs)
    table = "\n".join(f"| {key} | `{value}` |" for key, value in rows)
    markdown = f"### {headline}\n\n| | |\n|---|---|\n{table}\n"
    if details:
        items = "\n".join(f"- **{key}**: `{value}`" for key, value in details.items())
        markdown += f"\n<details><summary>Details</summary>\n\n{items}\n\n</details>\n"
    platform.summary(markdown)


def _keyless_token(fmt: str) -> str:
    from mltoolkit.errors import InputError
    from mltoolkit.signing import cli_support, keyless

    if fmt == "legacy":
        raise InputError(
            "keyless signatures are written only in the bundle format",
            where="--format",
            fix="use --format bundle (or both) with --keyless",
        )
    return keyless.id_token(cli_support.platform_name())


def _sign_keyless(
    client: RegistryClient, target: Target, values: dict[str, str], token: str, predicate_type: str
) -> SignResult:
    from mltoolkit.signing import dsse
    from mltoolkit.signing.sign import SignResult, attach_keyless_bundle

    predicate: dict[str, object] = {"annotations": values} if values else {}
    stmt = dsse.statement(target.name, target.digest.hex, predicate_type, predicate)
    result = SignResult(str(target), "keyless (OIDC)")
    result.written["bundle"] = attach_keyless_bundle(client, target, stmt, predicate_type, token)
    return result
