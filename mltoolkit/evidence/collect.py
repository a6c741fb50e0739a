"""``collect_evidence``: every signature and attestation stored for an image digest, verified.

An item counts only when its signature verifies with a signer the policy trusts for that kind
of evidence and its subject is the exact digest; everything else is returned as rejected with
the reason, so a gate can say why it is missing what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mltoolkit.evidence.reading import ReadOnce
from mltoolkit.evidence.types import SIGNATURE, evidence_type_of
from mltoolkit.oci.reference import ImageRef
from mltoolkit.signing.target import resolved_target
from mltoolkit.signing.verify import (
    Trust,
    TrustedKey,
    Verified,
    verify_attestations,
    verify_signatures,
)

if TYPE_CHECKING:
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.model import Trust as PolicyTrust


@dataclass(frozen=True)
class Evidence:
    """One verified claim about the image.

    ``time`` is when the item says it was made: the unsigned creation annotation of a bundle
    (None for cosign 2.x layers); a gate that needs a trustworthy time reads it from ``predicate``.
    ``digest`` is the image's; ``item_digest`` that of the stored item itself (the ``.sig``/``.att``
    layer or the bundle referrer's manifest), None when it is not known.
    """

    type: str
    predicate_type: str
    predicate: Any
    signer: str
    time: str | None
    digest: str
    source: str
    item_digest: str | None = None


class Rejected(tuple[str, str]):
    """A rejected item: unpacks as ``(source, reason)``; ``predicate_type`` is the type it
    claimed (unverified), None when that could not be read."""

    predicate_type: str | None

    def __new__(cls, source: str, reason: str, predicate_type: str | None = None) -> Rejected:
        """The pair, tagged with the claimed predicate type."""
        item = super().__new__(cls, (source, reason))
        item.predicate_type = predicate_type
        return item

    @property
    def source(self) -> str:
        """Where the item is stored."""
        return self[0]

    @property
    def reason(self) -> str:
        """Why it was rejected."""
        return self[1]


@dataclass
class EvidenceReport:
    """Verified evidence and rejected items (``(item, reason)``) for one digest.

    Items ``collect_evidence`` rejects are ``Rejected`` pairs: the reason then ends with the kind
    of evidence the item claimed to be, so a gate finds, say, an approval signed by an unknown key.
    """

    digest: str
    verified: list[Evidence] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def of_type(self, evidence_type: str) -> list[Evidence]:
        """The verified evidence of one type."""
        return [e for e in self.verified if e.type == evidence_type]


def trust_from_policy(policy_trust: PolicyTrust) -> tuple[Trust, dict[str, set[str]] | None]:
    """Our verification trust from the policy's, and which signer names each evidence type trusts
    (None: every signer for every type)."""
    from mltoolkit.signing.keyless import Identity
    from mltoolkit.signing.keys import load_public_key

    keys = []
    for name, signer in policy_trust.keys.items():
        if signer.path is None:
            # NOTE: verifying through a KMS needs its public key; a KMS-only key verifies
            # nothing here, and items signed by it are reported as not verifying.
            continue
        keys.append(TrustedKey(name, load_public_key(str(signer.path))))
    identities = [
        Identity(i.subject, i.subject_regexp, i.issuer, i.issuer_regexp, name=name, claims=i.claims)
        for name, i in policy_trust.identities.items()
    ]
    per_type = None
    if policy_trust.evidence is not None:
        per_type = {str(kind): set(names) for kind, names in policy_trust.evidence.items()}
    return Trust(keys=keys, identities=identities), per_type


def collect_evidence(
    client: RegistryClient,
    image: str | ImageRef,
    trust: Trust | PolicyTrust,
) -> EvidenceReport:
    """Verify all evidence stored for ``image`` (which must name a digest) against ``trust``."""
    ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
    ref.require_digest()
    per_type: dict[str, set[str]] | None = None
    if not isinstance(trust, Trust):
        trust, per_type = trust_from_policy(trust)
    reader = ReadOnce(client)
    # Both passes list the referrers; the second is served from what the first read.
    shared = cast("RegistryClient", reader)
    target = resolved_target(shared, ref)
    reader.prefetch(target)
    report = EvidenceReport(str(target.digest))
    signatures = verify_signatures(shared, target, trust)
    attestations = verify_attestations(shared, target, trust)
    stored = reader.stored_items(target)
    for source, reason in signatures.rejected + attestations.rejected:
        claimed = stored.get(source, ("", None))[1]
        report.rejected.append(_rejected(source, reason, claimed))
    for item in signatures.verified + attestations.verified:
        _admit(report, item, trust, per_type, stored.get(item.source, (None, None))[0])
    return report


def _rejected(source: str, reason: str, claimed: str | None) -> Rejected:
    if claimed is None:
        return Rejected(source, reason)
    kind = evidence_type_of(claimed)
    about = f"{kind} evidence, {claimed}" if kind != "other" else claimed
    return Rejected(source, f"{reason} (claims to be {about})", claimed)


def _admit(
    report: EvidenceReport,
    item: Verified,
    trust: Trust,
    per_type: dict[str, set[str]] | None,
    item_digest: str | None,
) -> None:
    predicate_type = item.predicate_type or SIGNATURE
    kind = evidence_type_of(predicate_type)
    name = trust.name_of(item.signer)
    if per_type is not None and name not in per_type.get(kind, set()):
        reason = f"signed by {name}, who is not trusted for {kind} evidence"
        report.rejected.append(Rejected(item.source, reason, predicate_type))
        return
    predicate = item.statement.get("predicate") if item.statement else item.annotations
    report.verified.append(
        Evidence(
            kind,
            predicate_type,
            predicate,
            name,
            item.time,
            report.digest,
            item.source,
            item_digest or None,
        )
    )
