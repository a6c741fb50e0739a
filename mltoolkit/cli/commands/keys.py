"""`mltoolkit keys generate`: a cosign-compatible key pair."""

from __future__ import annotations

from pathlib import Path

import click

from mltoolkit.cli.context import emit, log


@click.group("keys")
def keys() -> None:
    """Create signing keys that cosign, skopeo and mltoolkit all read."""


@keys.command("generate")
@click.option(
    "--output-prefix",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Writes PREFIX.key (encrypted, mode 0600) and PREFIX.pub.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def generate(output_prefix: Path, force: bool) -> None:
    """Generate an ECDSA P-256 key pair in cosign's format.

    The password is read from MLTOOLKIT_KEY_PASSWORD (or COSIGN_PASSWORD), or asked for on a
    terminal; it is never taken from the command line. An empty value means no password.
    """
    from mltoolkit.errors import InputError
    from mltoolkit.signing.keys import generate_key_pair, read_password

    password = read_password(prompt=True)
    if password is None:
        raise InputError(
            "no password for the new private key",
            where="MLTOOLKIT_KEY_PASSWORD",
            fix="export MLTOOLKIT_KEY_PASSWORD (an empty value means an unprotected key)",
        )
    key_path, pub_path = generate_key_pair(output_prefix, password, force=force)
    log(f"private key written to {key_path} (keep it secret)")
    emit(
        {"ok": True, "private_key": str(key_path), "public_key": str(pub_path)},
        f"Private key written to {key_path}\nPublic key written to {pub_path}",
    )
