"""Keyless signing and verification through sigstore-python (the ``[keyless]`` extra).

sigstore is imported inside the functions: it costs about 0.3 s and is optional.
Identity and issuer regular expressions must match the whole value (``re.fullmatch``), as the
policy's do; cosign's match anywhere, so exports to other tools anchor them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.signing.certificate_claims import ClaimRule, certificate_claims, extension_text

_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"

REMEDIATION = {
    "github": (
        "give the job `permissions: id-token: write` (a pull request from a fork gets no token), "
        "or sign with --key"
    ),
    "gitlab": ("add to the job `id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore`, or sign with --key"),
    "local": (
        "export SIGSTORE_ID_TOKEN with an OIDC token whose audience is sigstore, or sign with --key"
    ),
}


@dataclass(frozen=True)
class Identity:
    """A trusted keyless signer: certificate identity and OIDC issuer, each exact or regexp,
    and the Fulcio extension claims (``claims``) the certificate must also carry."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    name: str | None = None
    claims: tuple[ClaimRule, ...] = ()

    def __post_init__(self) -> None:
        if not (self.identity or self.identity_regexp):
            raise InputError(
                "a keyless identity needs --certificate-identity or --certificate-identity-regexp",
                where="--certificate-identity",
            )
        if not (self.issuer or self.issuer_regexp):
            raise InputError(
                "a keyless identity needs --certificate-oidc-issuer[-regexp]",
                where="--certificate-oidc-issuer",
                fix="e.g. https://token.actions.githubusercontent.com or https://gitlab.com",
            )
        patterns = [self.identity_regexp, self.issuer_regexp, *(c.regexp for c in self.claims)]
        for pattern in patterns:
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise InputError(f"invalid regular expression {pattern!r}: {exc}") from None

    def __str__(self) -> str:
        if self.name:
            return self.name
        who = self.identity or f"/{self.identity_regexp}/"
        issuer = self.issuer or f"/{self.issuer_regexp}/"
        return f"identity {who} from {issuer}"

    def mismatch(
        self,
        sans: set[str],
        issuer: str | None,
        claims: Mapping[str, str] = MappingProxyType({}),
    ) -> str | None:
        """Why a certificate with these SANs, issuer and extension ``claims`` is not this
        identity (None: it is). Every claim the identity pins must be present and fit."""
        if issuer is None:
            return "the certificate names no OIDC issuer"
        if self.issuer is not None and issuer != self.issuer:
            return f"issuer {issuer} is not {self.issuer}"
        if self.issuer_regexp is not None and not re.fullmatch(self.issuer_regexp, issuer):
            return f"issuer {issuer} does not match /{self.issuer_regexp}/"
        if self.identity is not None and self.identity not in sans:
            return f"identity {', '.join(sorted(sans))} is not {self.identity}"
        if self.identity_regexp is not None and not any(
            re.fullmatch(self.identity_regexp, san) for san in sans
        ):
            return f"identity {', '.join(sorted(sans))} does not match /{self.identity_regexp}/"
        broken = [why for why in (rule.mismatch(claims) for rule in self.claims) if why]
        return "; ".join(broken) or None


def certificate_identity(cert: Any) -> tuple[set[str], str | None]:
    """The SANs and the OIDC issuer of a Fulcio certificate."""
    from cryptography import x509

    sans: set[str] = set()
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans.update(ext.get_values_for_type(x509.RFC822Name))
        sans.update(ext.get_values_for_type(x509.UniformResourceIdentifier))
        sans.update(
            other.value.decode(errors="replace")
            for other in ext.get_values_for_type(x509.OtherName)
        )
    except x509.ExtensionNotFound:
        pass
    issuer = extension_text(cert, _ISSUER_V2)
    if issuer is None:
        issuer = extension_text(cert, _ISSUER_V1, der=False)
    return sans, issuer


class IdentityPolicy:
    """The sigstore-python verification policy: the certificate is one of ``identities``.

    sigstore-python calls ``verify(cert)`` once the chain, SCT and log entry hold. Its own
    policy classes (``OIDCSourceRepositoryURI``...) match exactly only and name failures by
    class, so claims are read here (``certificate_claims``) and failures named as in the policy.
    """

    def __init__(self, identities: list[Identity]) -> None:
        self.identities = identities
        self.matched: Identity | None = None

    def verify(self, cert: Any) -> None:
        from sigstore.errors import VerificationError

        sans, issuer = certificate_identity(cert)
        claims = certificate_claims(cert)
        reasons = []
        for identity in self.identities:
            why = identity.mismatch(sans, issuer, claims)
            if why is None:
                self.matched = identity
                return
            # NOTE: among several identities a bare reason would not say whose it is.
            reasons.append(why if len(self.identities) == 1 else f"{identity}: {why}")
        raise VerificationError("; ".join(reasons))


def verify_bundle(bundle_doc: dict[str, Any], identities: Any) -> str:
    """Verify a keyless bundle's DSSE signature, certificate chain, log entry and identity.

    Returns the label of the identity that matched; raises nothing for a bad bundle: the reason
    is returned prefixed with ``rejected:``. Offline: the trust root bundled with sigstore.
    """
    import json

    try:
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import Bundle
        from sigstore.verify import Verifier
    except ImportError:
        return "rejected: keyless verification needs: pip install 'mltoolkit[keyless]'"
    policy = IdentityPolicy(list(identities))
    try:
        bundle = Bundle.from_json(json.dumps(bundle_doc))
        Verifier.production(offline=True).verify_dsse(bundle, policy)
    except SigstoreError as exc:
        return f"rejected: {exc}"
    except Exception as exc:  # malformed bundles raise pydantic/ValueError types
        return f"rejected: unreadable bundle: {exc}"
    return str(policy.matched)


def id_token(platform: str) -> str:
    """The OIDC token for keyless signing: SIGSTORE_ID_TOKEN, else the ambient CI credential."""
    token = os.environ.get("SIGSTORE_ID_TOKEN")
    if token:
        return token
    remedy = REMEDIATION.get(platform, REMEDIATION["local"])
    try:
        from sigstore.oidc import detect_credential
    except ImportError:
        raise InputError(
            "keyless signing needs the keyless extra and an OIDC token",
            where="SIGSTORE_ID_TOKEN",
            fix=f"pip install 'mltoolkit[keyless]'; {remedy}",
        ) from None
    try:
        token = detect_credential()
    except Exception as exc:  # the `id` package raises its own error types
        raise InputError(
            f"cannot get an OIDC token: {exc}", fix=REMEDIATION.get(platform)
        ) from None
    if not token:
        raise InputError(
            f"keyless signing needs an OIDC identity token and none was found ({platform})",
            where="SIGSTORE_ID_TOKEN",
            fix=remedy,
        )
    return token


def sign_statement(statement: bytes, token: str) -> bytes:
    """A bundle (JSON) with a DSSE envelope of ``statement``, signed with a Fulcio certificate."""
    try:
        from sigstore.dsse import Statement
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityError, IdentityToken
        from sigstore.sign import SigningContext
    except ImportError:
        raise InputError(
            "keyless signing needs the keyless extra", fix="pip install 'mltoolkit[keyless]'"
        ) from None
    try:
        identity = IdentityToken(token)
    except IdentityError as exc:
        raise InputError(
            f"the OIDC token is not usable: {exc}", where="SIGSTORE_ID_TOKEN"
        ) from None
    try:
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(identity) as signer:
            result = signer.sign_dsse(Statement(statement))
    except SigstoreError as exc:
        raise ExternalError(
            f"keyless signing failed: {exc}", fix="check that Fulcio and Rekor are reachable"
        ) from None
    except Exception as exc:  # network errors of requests and the TUF client
        raise ExternalError(
            f"keyless signing failed: {exc}", fix="check that Fulcio and Rekor are reachable"
        ) from None
    return result.to_json().encode()
