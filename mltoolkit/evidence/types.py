"""Which in-toto predicate type carries which kind of evidence.

mltoolkit's own evidence kinds use predicate types under ``https://mltoolkit.dev/attestation/``;
the others are the ones cosign and the ecosystem use, so that evidence written by other tools
counts too.
"""

from __future__ import annotations

SIGNATURE = "https://sigstore.dev/cosign/sign/v1"
SCAN_RESULT = "https://mltoolkit.dev/attestation/vulnerability-scan/v1"
DATA_VALIDATION = "https://mltoolkit.dev/attestation/data-validation/v1"
APPROVAL = "https://mltoolkit.dev/attestation/approval/v1"
PROMOTION = "https://mltoolkit.dev/attestation/promotion/v1"

# predicate type URI -> evidence type (the values of mltoolkit.policy.model.EvidenceType)
PREDICATE_TYPES: dict[str, str] = {
    SIGNATURE: "signature",
    "https://cyclonedx.org/bom": "sbom",
    "https://cyclonedx.org/bom/v1.4": "sbom",
    "https://cyclonedx.org/bom/v1.5": "sbom",
    "https://cyclonedx.org/bom/v1.6": "sbom",
    "https://spdx.dev/Document": "sbom",
    "https://spdx.dev/Document/v2.3": "sbom",
    SCAN_RESULT: "vulnerability-scan",
    "https://cosign.sigstore.dev/attestation/vuln/v1": "vulnerability-scan",
    DATA_VALIDATION: "data-validation",
    "https://slsa.dev/provenance/v1": "provenance",
    "https://slsa.dev/provenance/v0.2": "provenance",
    "https://model_signing/signature/v1.0": "model-signature",
    APPROVAL: "approval",
    PROMOTION: "promotion",
}


def evidence_type_of(predicate_type: str) -> str:
    """The evidence type a predicate type carries (``other`` when it is none we know)."""
    return PREDICATE_TYPES.get(predicate_type, "other")
