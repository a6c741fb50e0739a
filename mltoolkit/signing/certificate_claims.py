"""Fulcio certificate extensions a keyless identity may pin, beyond the issuer and the subject.

Fulcio copies claims of the CI's OIDC token into certificate extensions (sigstore/fulcio
``docs/oid-info.md``). With a reusable workflow the subject is the *workflow's* ref, the same
for every repository that calls it; ``source-repository-uri`` and its siblings say which
repository, ref and runner the signature came from.

Claim names are Fulcio's extension names in kebab-case. OIDs .1.2 to .1.6 (the deprecated
GitHub Workflow extensions) hold raw UTF-8 bytes; .1.8 and later hold a DER UTF8String.
A claim is read from its own OID only: ``source-repository-uri`` never falls back to the
legacy ``github-workflow-repository``, whose value has another form (``owner/repo``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

_FULCIO = "1.3.6.1.4.1.57264.1."
_UTF8STRING = 0x0C


@dataclass(frozen=True)
class ClaimExtension:
    """Where a claim is stored: the extension's OID and whether its value is DER-encoded."""

    oid: str
    der: bool = True


CLAIM_EXTENSIONS: Mapping[str, ClaimExtension] = MappingProxyType(
    {
        "build-signer-uri": ClaimExtension(_FULCIO + "9"),
        "build-signer-digest": ClaimExtension(_FULCIO + "10"),
        "runner-environment": ClaimExtension(_FULCIO + "11"),
        "source-repository-uri": ClaimExtension(_FULCIO + "12"),
        "source-repository-digest": ClaimExtension(_FULCIO + "13"),
        "source-repository-ref": ClaimExtension(_FULCIO + "14"),
        "source-repository-identifier": ClaimExtension(_FULCIO + "15"),
        "source-repository-owner-uri": ClaimExtension(_FULCIO + "16"),
        "source-repository-owner-identifier": ClaimExtension(_FULCIO + "17"),
        "build-config-uri": ClaimExtension(_FULCIO + "18"),
        "build-config-digest": ClaimExtension(_FULCIO + "19"),
        "build-trigger": ClaimExtension(_FULCIO + "20"),
        "run-invocation-uri": ClaimExtension(_FULCIO + "21"),
        "source-repository-visibility-at-signing": ClaimExtension(_FULCIO + "22"),
        "deployment-environment": ClaimExtension(_FULCIO + "23"),
        "github-workflow-trigger": ClaimExtension(_FULCIO + "2", der=False),
        "github-workflow-sha": ClaimExtension(_FULCIO + "3", der=False),
        "github-workflow-name": ClaimExtension(_FULCIO + "4", der=False),
        "github-workflow-repository": ClaimExtension(_FULCIO + "5", der=False),
        "github-workflow-ref": ClaimExtension(_FULCIO + "6", der=False),
    }
)
CLAIM_NAMES: tuple[str, ...] = tuple(CLAIM_EXTENSIONS)
REGEXP_SUFFIX = "-regexp"


@dataclass(frozen=True)
class ClaimRule:
    """One claim a certificate must carry: exactly ``value``, or a value matching ``regexp``
    as a whole (``re.fullmatch``). Exactly one of the two is set."""

    name: str
    value: str | None = None
    regexp: str | None = None

    @property
    def key(self) -> str:
        """The policy key that gave the rule: the claim name, ``-regexp`` for a pattern."""
        return self.name if self.value is not None else self.name + REGEXP_SUFFIX

    @property
    def given(self) -> str:
        """The value or pattern as the policy wrote it."""
        return self.value if self.value is not None else str(self.regexp)

    @property
    def wanted(self) -> str:
        """What the rule asks for, as messages show it (``/regexp/`` for a pattern)."""
        return self.value if self.value is not None else f"/{self.regexp}/"

    def mismatch(self, found: Mapping[str, str]) -> str | None:
        """Why ``found`` (a certificate's claims) breaks this rule; None when it does not."""
        actual = found.get(self.name)
        if actual is None:
            oid = CLAIM_EXTENSIONS[self.name].oid
            return f"the certificate has no {self.name} ({oid}), policy wants {self.wanted}"
        if self.value is not None and actual != self.value:
            return f"{self.name} is {actual}, policy wants {self.value}"
        if self.regexp is not None and re.fullmatch(self.regexp, actual) is None:
            return f"{self.name} is {actual}, policy wants a match of {self.wanted}"
        return None

    def __str__(self) -> str:
        return f"{self.key}={self.given}"


def decode_der_utf8(raw: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0c, length, bytes); None for anything else."""
    if len(raw) < 2 or raw[0] != _UTF8STRING:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            return None
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    if offset + length != len(raw):
        return None
    try:
        return raw[offset:].decode()
    except UnicodeDecodeError:
        return None


def extension_text(cert: Any, oid: str, *, der: bool = True) -> str | None:
    """The text of a Fulcio extension of ``cert`` (a ``cryptography`` certificate); None when
    the certificate lacks it or its value is not text of the expected encoding."""
    from cryptography import x509

    try:
        raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    except x509.ExtensionNotFound:
        return None
    if der:
        return decode_der_utf8(raw)
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        return None


def certificate_claims(cert: Any) -> dict[str, str]:
    """Every claim ``cert`` carries, by claim name (unreadable values are left out)."""
    claims: dict[str, str] = {}
    for name, ext in CLAIM_EXTENSIONS.items():
        text = extension_text(cert, ext.oid, der=ext.der)
        if text is not None:
            claims[name] = text
    return claims
