"""Signed evidence about an image, verified against the policy's trust section.

Gates call ``collect_evidence``; nothing else in them checks signatures.
"""

from mltoolkit.evidence.collect import (
    Evidence,
    EvidenceReport,
    Rejected,
    collect_evidence,
    trust_from_policy,
)
from mltoolkit.evidence.types import PREDICATE_TYPES, evidence_type_of

__all__ = [
    "PREDICATE_TYPES",
    "Evidence",
    "EvidenceReport",
    "Rejected",
    "collect_evidence",
    "evidence_type_of",
    "trust_from_policy",
]
