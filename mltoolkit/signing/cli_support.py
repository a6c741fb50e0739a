"""What the sign, verify and attest commands share: options parsed into core objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mltoolkit.errors import InputError
from mltoolkit.oci.reference import ImageRef

if TYPE_CHECKING:
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.signing.verify import Trust


def open_client(insecure: Sequence[str]) -> RegistryClient:
    """The registry client for one command run (credentials from the Docker config)."""
    from mltoolkit.oci.registry import RegistryClient

    return RegistryClient(insecure=tuple(insecure))


def parse_annotations(pairs: Sequence[str]) -> dict[str, str]:
    """``K=V`` pairs into a dict; InputError on a pair without ``=``."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"annotation {pair!r} is not KEY=VALUE", where="--annotation")
        result[key] = value
    return result


def build_trust(
    keys: Sequence[str],
    *,
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
    signed_identities: Sequence[str] = (),
) -> Trust:
    """The keys and identity given on the command line; InputError when there is none."""
    from mltoolkit.signing.keys import load_public_key
    from mltoolkit.signing.verify import Trust, TrustedKey

    identities = []
    if identity or identity_regexp or issuer or issuer_regexp:
        from mltoolkit.signing.keyless import Identity

        identities.append(Identity(identity, identity_regexp, issuer, issuer_regexp))
    if not keys and not identities:
        raise InputError(
            "nothing to verify against",
            fix="pass --key PUBLIC.pub, or --certificate-identity and --certificate-oidc-issuer",
        )
    for extra in signed_identities:
        ImageRef.parse(extra)
    return Trust(
        keys=[TrustedKey(ref, load_public_key(ref)) for ref in keys],
        identities=identities,
        signed_identities=tuple(signed_identities),
    )


def platform_name() -> str:
    """The CI platform we run on (for remediation messages), ``local`` when unknown."""
    try:
        from mltoolkit.ci import detect
    except ImportError:
        return "local"
    return str(detect().name)
