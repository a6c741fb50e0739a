"""``mltoolkit approve``: sign an approval of one version's image for one environment."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mltoolkit.approvals.record import approval_predicate
from mltoolkit.errors import InputError
from mltoolkit.evidence.types import APPROVAL
from mltoolkit.policy.model import KeySigner, Policy

if TYPE_CHECKING:
    from mltoolkit.ci.base import RunInfo
    from mltoolkit.models.store import ModelStore
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.signing.keys import PublicKey, Signer


@dataclass(frozen=True)
class ApprovalResult:
    """The approval written, and whether the policy would count its signer at all."""

    image: str
    predicate: dict[str, Any]
    written: dict[str, str]
    approver_name: str | None
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON result."""
        return {
            "ok": True,
            "image": self.image,
            "approval": self.predicate,
            "approver_name": self.approver_name,
            "written": self.written,
            "warning": self.warning,
        }


def check_environment(policy: Policy, environment: str) -> None:
    """InputError unless the policy defines ``environment``."""
    if environment not in policy.environments:
        known = ", ".join(policy.environments) or "none"
        raise InputError(
            f"unknown environment {environment!r}",
            where="--env",
            fix=f"the policy defines: {known}",
        )


def _key_name(policy: Policy, public: PublicKey) -> str | None:
    from mltoolkit.signing.keys import key_id, load_public_key

    wanted = key_id(public)
    for name, signer in policy.trust.keys.items():
        path = signer.path if isinstance(signer, KeySigner) else None
        if path is not None and key_id(load_public_key(str(path))) == wanted:
            return name
    return None


def _warning(policy: Policy, environment: str, name: str | None, who: str) -> str | None:
    env = policy.environments[environment]
    allowed = {s.name for s in policy.approvers(env)}
    if name is None:
        return f"{who} is not a signer of the policy: this approval will not count"
    if name not in allowed:
        return f"{name} may not approve for {environment}: this approval will not count"
    if env.approvals is None:
        return f"{environment} needs no approvals: this one is recorded but not required"
    return None


def approve(
    policy: Policy,
    store: ModelStore,
    client: RegistryClient,
    *,
    model: str,
    version: int,
    environment: str,
    comment: str,
    signer: Signer | None,
    keyless_token: str | None,
    run_info: RunInfo | None,
    now: datetime,
    platform_approval: dict[str, Any] | None = None,
) -> ApprovalResult:
    """Sign and store an approval bound to model, version, image digest and environment.

    ``platform_approval`` is the CI platform's own approval of the job (see
    ``mltoolkit.approvals.platform``), recorded as given.
    """
    from mltoolkit.promote.facts import read_version
    from mltoolkit.signing import dsse
    from mltoolkit.signing.target import pinned_target

    check_environment(policy, environment)
    state = read_version(store, model, version)
    target = pinned_target(client, state.image, action="approve")
    if signer is not None:
        from mltoolkit.signing.keys import key_id

        public = signer.public_key()
        approver = key_id(public)
        name = _key_name(policy, public)
    else:
        approver = token_identity(keyless_token or "")
        name = _identity_name(policy, approver)
    predicate = approval_predicate(
        model=model,
        version=version,
        digest=str(target.digest),
        environment=environment,
        approver=approver,
        time=now,
        comment=comment,
        ci=run_info.to_dict() if run_info is not None and run_info.platform != "local" else None,
        platform_approval=platform_approval,
    )
    if signer is not None:
        from mltoolkit.signing.attest import attest_image

        written = attest_image(client, target, signer, APPROVAL, predicate, "both").written
    else:
        from mltoolkit.signing.sign import attach_keyless_bundle

        stmt = dsse.statement(target.name, target.digest.hex, APPROVAL, predicate)
        written = {
            "bundle": attach_keyless_bundle(client, target, stmt, APPROVAL, keyless_token or "")
        }
    return ApprovalResult(
        str(target), predicate, written, name, _warning(policy, environment, name, approver)
    )


def token_identity(token: str) -> str:
    """The identity an OIDC token names (``email``, else ``sub``), read without verifying it:
    the certificate Fulcio issues for it is what verification checks."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return "keyless"
    if not isinstance(claims, dict):
        return "keyless"
    return str(claims.get("email") or claims.get("sub") or "keyless")


def _identity_name(policy: Policy, subject: str) -> str | None:
    for name, identity in policy.trust.identities.items():
        if identity.subject == subject:
            return name
    return None
