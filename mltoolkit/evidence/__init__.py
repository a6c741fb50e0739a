"""Signed evidence about an image, verified against the policy's trust section.

Gates call ``collect_evidence``; nothing else in them checks signatures.
"""

from typing import TYPE_CHECKING, Any

from mltoolkit.evidence.types import PREDICATE_TYPES, evidence_type_of

if TYPE_CHECKING:
    from mltoolkit.evidence.collect import (
        Evidence,
        EvidenceReport,
        Rejected,
        collect_evidence,
        trust_from_policy,
    )

__all__ = [
    "PREDICATE_TYPES",
    "Evidence",
    "EvidenceReport",
    "Rejected",
    "collect_evidence",
    "evidence_type_of",
    "trust_from_policy",
]

_COLLECT = frozenset(
    {"Evidence", "EvidenceReport", "Rejected", "collect_evidence", "trust_from_policy"}
)


def __getattr__(name: str) -> Any:
    # The verification stack (cryptography, the registry client) loads on first use: importing
    # mltoolkit.evidence.types alone, as validate-data does, must not pay for it.
    if name in _COLLECT:
        from mltoolkit.evidence import collect

        return getattr(collect, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
