"""The evidence on an image digest that register records and status re-checks.

Trust comes from ``--evidence-key`` files when given, else from the policy's trust section;
with neither there is nothing to verify against and no evidence is claimed (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltoolkit.evidence import EvidenceReport
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.model import Policy


def verified_evidence(
    client: RegistryClient,
    ref: ImageRef,
    evidence_keys: Sequence[str],
    policy: Policy | None,
) -> EvidenceReport | None:
    """The verified evidence on ``ref``'s digest (None when nothing is trusted)."""
    from mltoolkit.evidence import collect_evidence

    if evidence_keys:
        from mltoolkit.signing.cli_support import build_trust

        trust = build_trust(
            evidence_keys, identity=None, identity_regexp=None, issuer=None, issuer_regexp=None
        )
        return collect_evidence(client, ref, trust)
    if policy is None:
        return None
    return collect_evidence(client, ref, policy.trust)
