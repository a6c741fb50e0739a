"""What the sign, verify and attest commands share: options parsed into core objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mltoolkit.errors import InputError
from mltoolkit.oci.reference import ImageRef

if TYPE_CHECKING:
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.signing.certificate_claims import ClaimRule
    from mltoolkit.signing.verify import Trust

CLAIM_OPTION = "--certificate-claim"


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


def parse_claims(pairs: Sequence[str]) -> tuple[ClaimRule, ...]:
    """``NAME=VALUE`` / ``NAME-regexp=PATTERN`` pairs (``--certificate-claim``) into claim rules,
    checked as the policy's ``claims:`` are: a known Fulcio claim name, given once, a non-empty
    value, a pattern that compiles. InputError naming the valid claims otherwise."""
    import re

    from mltoolkit.policy.yamltree import suggestion
    from mltoolkit.signing.certificate_claims import CLAIM_NAMES, REGEXP_SUFFIX, ClaimRule

    rules: dict[str, ClaimRule] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise InputError(
                f"certificate claim {pair!r} is not NAME=VALUE",
                where=CLAIM_OPTION,
                fix="e.g. source-repository-uri=https://github.com/OWNER/REPO",
            )
        name = key.removesuffix(REGEXP_SUFFIX)
        if name not in CLAIM_NAMES:
            keys = [k for known in CLAIM_NAMES for k in (known, known + REGEXP_SUFFIX)]
            close = suggestion(key, keys)
            hint = f"did you mean '{close}'? " if close else ""
            raise InputError(
                f"unknown certificate claim '{key}'",
                where=CLAIM_OPTION,
                fix=f"{hint}valid claims (each also as NAME{REGEXP_SUFFIX}): "
                + ", ".join(CLAIM_NAMES),
            )
        if name in rules:
            raise InputError(
                f"certificate claim '{name}' is given twice",
                where=CLAIM_OPTION,
                fix=f"give one of '{name}' or '{name}{REGEXP_SUFFIX}', once",
            )
        if key == name:
            rules[name] = ClaimRule(name, value=value)
            continue
        try:
            re.compile(value)
        except re.error as exc:
            raise InputError(
                f"invalid regular expression for '{key}': {exc}", where=CLAIM_OPTION
            ) from None
        rules[name] = ClaimRule(name, regexp=value)
    return tuple(rules.values())


def build_trust(
    keys: Sequence[str],
    *,
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
    signed_identities: Sequence[str] = (),
    claims: Sequence[str] = (),
) -> Trust:
    """The keys and identity given on the command line; InputError when there is none.

    ``claims`` (``--certificate-claim`` pairs) pin Fulcio certificate extensions on the
    keyless identity, as ``claims:`` does on a policy identity.
    """
    from mltoolkit.signing.keys import load_public_key
    from mltoolkit.signing.verify import Trust, TrustedKey

    rules = parse_claims(claims)
    identities = []
    if identity or identity_regexp or issuer or issuer_regexp:
        from mltoolkit.signing.keyless import Identity

        identities.append(Identity(identity, identity_regexp, issuer, issuer_regexp, claims=rules))
    elif rules:
        raise InputError(
            f"{CLAIM_OPTION} pins a keyless identity, and none was given",
            where=CLAIM_OPTION,
            fix="add --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]",
        )
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
