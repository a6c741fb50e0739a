"""The keys whose signatures on promotion records and audit entries the policy trusts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mltoolkit.policy.model import EvidenceType, KeySigner, Policy

if TYPE_CHECKING:
    from mltoolkit.signing.keys import PublicKey


def promotion_keys(policy: Policy) -> dict[str, PublicKey]:
    """Policy name -> public key of each key signer trusted for ``promotion`` evidence.

    Keys held only in a KMS (no public key file) verify nothing here and are left out.
    """
    from mltoolkit.signing.keys import load_public_key

    return {
        signer.name: load_public_key(str(signer.path))
        for signer in policy.trust.signers_for(EvidenceType.PROMOTION)
        if isinstance(signer, KeySigner) and signer.path is not None
    }


def trusted_name(policy_keys: dict[str, PublicKey], key: PublicKey) -> str | None:
    """The policy name of ``key`` among ``policy_keys`` (None: not trusted)."""
    from mltoolkit.signing.keys import key_id

    wanted = key_id(key)
    return next((name for name, k in policy_keys.items() if key_id(k) == wanted), None)
