"""Verifying what is stored next to an image: signatures and attestations, in both formats.

Every item found is either verified (by which key or identity) or rejected with a reason that a
person can act on; nothing found is silently skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mltoolkit.oci.reference import ImageRef
from mltoolkit.signing import bundle, dsse, storage
from mltoolkit.signing.keys import PublicKey, key_id, verify_signature
from mltoolkit.signing.payload import parse_payload
from mltoolkit.signing.target import Target


@dataclass(frozen=True)
class TrustedKey:
    """A verification key and the name people know it by (file path, policy key name)."""

    name: str
    key: PublicKey

    @property
    def label(self) -> str:
        """``name (sha256:<16 hex>)``."""
        return f"{self.name} ({key_id(self.key)})"


@dataclass(frozen=True)
class Verified:
    """One item whose signature verified and whose claims are about the target."""

    source: str
    kind: str  # "signature" or "attestation"
    signer: str
    predicate_type: str | None = None
    statement: dict[str, Any] | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    time: str | None = None


@dataclass
class Report:
    """All items found for a target: verified ones and rejected ones with the reason."""

    target: str
    verified: list[Verified] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``--json``."""
        return {
            "ok": bool(self.verified),
            "image": self.target,
            "verified": [
                {
                    "source": v.source,
                    "kind": v.kind,
                    "signer": v.signer,
                    "predicate_type": v.predicate_type,
                }
                for v in self.verified
            ],
            "rejected": [{"source": s, "reason": r} for s, r in self.rejected],
        }


@dataclass(frozen=True)
class Trust:
    """What is trusted: keys, keyless identities, and repositories a signature may name."""

    keys: Sequence[TrustedKey] = ()
    identities: Sequence[Any] = ()  # keyless.Identity, checked through sigstore-python
    signed_identities: Sequence[str] = ()

    def name_of(self, label: str) -> str:
        """The trusted name behind a signer label of a ``Verified`` item."""
        for key in self.keys:
            if key.label == label:
                return key.name
        return label

    def describe(self) -> str:
        """The keys and identities tried, for rejection messages."""
        names = [k.label for k in self.keys] + [str(i) for i in self.identities]
        return ", ".join(names) or "nothing"


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _which_key(trust: Trust, signature: bytes, message: bytes) -> TrustedKey | None:
    return next((k for k in trust.keys if verify_signature(k.key, signature, message)), None)


def _reference_allowed(target: Target, reference: str, trust: Trust) -> bool:
    try:
        named = ImageRef.parse(reference).name
    except Exception:  # a malformed reference is simply not allowed
        return False
    allowed = {target.name}
    for extra in trust.signed_identities:
        allowed.add(ImageRef.parse(extra).name)
    return named in allowed


def check_simple_signing(target: Target, layer: storage.Layer, trust: Trust) -> Verified | str:
    """Verify one ``.sig`` layer; the reason as a string when it is rejected."""
    if layer.media_type != storage.SIMPLE_SIGNING_MEDIA_TYPE:
        return f"media type {layer.media_type!r} is not a simple-signing signature"
    if not layer.blob_matches:
        return f"its payload blob does not have the digest {layer.digest} the layer names"
    signature = _b64(layer.annotations.get(storage.SIGNATURE_ANNOTATION, ""))
    if not signature:
        if storage.CERTIFICATE_ANNOTATION in layer.annotations:
            return "a keyless cosign 2.x signature (certificate + Rekor): only bundles are checked"
        return "it has no signature annotation"
    key = _which_key(trust, signature, layer.blob)
    if key is None:
        return f"the signature does not verify with {trust.describe()}"
    try:
        claims = parse_payload(layer.blob)
    except ValueError as exc:
        return str(exc)
    if claims.manifest_digest != str(target.digest):
        named = claims.manifest_digest
        return f"signed by {key.label} but its payload names {named}, not {target.digest}"
    if not _reference_allowed(target, claims.docker_reference, trust):
        return (
            f"signed by {key.label} for {claims.docker_reference}, not {target.name} "
            "(pass --signed-identity to accept it)"
        )
    return Verified(
        source=f"{layer_source(target, 'sig', layer)}",
        kind="signature",
        signer=key.label,
        annotations=claims.optional,
    )


def layer_source(target: Target, suffix: str, layer: storage.Layer) -> str:
    """How a legacy layer is named in messages."""
    return f"{target.repo.name}:{storage.legacy_tag(target.digest, suffix)} layer {layer.index}"


def check_envelope(
    target: Target, envelope_doc: Any, trust: Trust, *, keyless_bundle: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]] | str:
    """Verify a DSSE envelope about ``target``: ``(signer, statement)`` or the rejection reason."""
    try:
        envelope = dsse.parse_envelope(envelope_doc)
    except ValueError as exc:
        return str(exc)
    if keyless_bundle is not None:
        from mltoolkit.signing import keyless

        verdict = keyless.verify_bundle(keyless_bundle, trust.identities)
        if verdict.startswith("rejected: "):
            return verdict.removeprefix("rejected: ")
        signer = verdict
    else:
        key = next((k for k in trust.keys if dsse.envelope_verifies(envelope, k.key)), None)
        if key is None:
            return f"the DSSE signature does not verify with {trust.describe()}"
        signer = key.label
    try:
        stmt = dsse.parse_statement(envelope)
    except ValueError as exc:
        return f"signed by {signer} but {exc}"
    subjects = dsse.subject_digests(stmt)
    if str(target.digest) not in subjects:
        named = ", ".join(sorted(subjects)) or "no digest"
        return f"signed by {signer} but its subject is {named}, not {target.digest}"
    return signer, stmt


def _bundle_envelope(
    target: Target, item: bundle.BundleItem, trust: Trust
) -> tuple[str, dict[str, Any]] | str:
    material = item.bundle.get("verificationMaterial") or {}
    media_type = str(item.bundle.get("mediaType", ""))
    if not media_type.startswith(bundle.BUNDLE_MEDIA_PREFIX):
        return f"unknown bundle media type {media_type!r}"
    if "dsseEnvelope" not in item.bundle:
        return "a message-signature bundle: image signatures are expected as DSSE statements"
    if "publicKey" in material:
        return check_envelope(target, item.bundle["dsseEnvelope"], trust)
    if not trust.identities:
        return "signed keylessly: pass --certificate-identity and --certificate-oidc-issuer"
    return check_envelope(target, item.bundle["dsseEnvelope"], trust, keyless_bundle=item.bundle)


def _is_signature(announced: str | None) -> bool:
    return announced in (None, bundle.SIGN_PREDICATE_TYPE)


def verify_signatures(client: Any, target: Target, trust: Trust) -> Report:
    """Check every signature stored for ``target`` (``.sig`` tag and bundle referrers)."""
    report = Report(str(target))
    sig = storage.read_tag(client, target.repo, target.digest, "sig")
    for layer in sig.layers:
        verdict = check_simple_signing(target, layer, trust)
        if isinstance(verdict, str):
            report.rejected.append((layer_source(target, "sig", layer), verdict))
        else:
            report.verified.append(verdict)
    items, broken = bundle.list_bundles(client, target.repo, target.digest, _is_signature)
    report.rejected.extend(broken)
    for item in items:
        if (
            item.annotations.get(bundle.PREDICATE_ANNOTATION, bundle.SIGN_PREDICATE_TYPE)
            != bundle.SIGN_PREDICATE_TYPE
        ):
            continue  # an attestation, not a signature
        source = f"bundle referrer {item.manifest_digest}"
        outcome = _bundle_envelope(target, item, trust)
        if isinstance(outcome, str):
            report.rejected.append((source, outcome))
        elif outcome[1].get("predicateType") != bundle.SIGN_PREDICATE_TYPE:
            report.rejected.append(
                (source, f"predicate type {outcome[1].get('predicateType')!r} is not a signature")
            )
        else:
            report.verified.append(
                Verified(
                    source,
                    "signature",
                    outcome[0],
                    bundle.SIGN_PREDICATE_TYPE,
                    outcome[1],
                    time=item.created,
                )
            )
    return report


def verify_attestations(
    client: Any, target: Target, trust: Trust, predicate_type: str | None = None
) -> Report:
    """Check every attestation stored for ``target``, keeping those of ``predicate_type``."""
    report = Report(str(target))

    def wanted_layer(annotations: dict[str, str]) -> bool:
        announced = annotations.get(storage.PREDICATE_TYPE_ANNOTATION)
        return predicate_type is None or announced in (None, predicate_type)

    att = storage.read_tag(client, target.repo, target.digest, "att", wanted_layer)
    for layer in att.layers:
        source = layer_source(target, "att", layer)
        if (
            predicate_type
            and layer.annotations.get(storage.PREDICATE_TYPE_ANNOTATION, predicate_type)
            != predicate_type
        ):
            continue
        if not layer.blob_matches:
            report.rejected.append((source, f"its blob does not have the digest {layer.digest}"))
            continue
        try:
            envelope_doc = json.loads(layer.blob)
        except ValueError:
            report.rejected.append((source, "the layer is not a JSON DSSE envelope"))
            continue
        _record(report, source, check_envelope(target, envelope_doc, trust), predicate_type, None)

    def wanted(announced: str | None) -> bool:
        if announced == bundle.SIGN_PREDICATE_TYPE:
            return False
        return predicate_type is None or announced in (None, predicate_type)

    items, broken = bundle.list_bundles(client, target.repo, target.digest, wanted)
    report.rejected.extend(broken)
    for item in items:
        annotated = item.annotations.get(bundle.PREDICATE_ANNOTATION)
        if annotated == bundle.SIGN_PREDICATE_TYPE or (
            predicate_type and annotated not in (None, predicate_type)
        ):
            continue
        source = f"bundle referrer {item.manifest_digest}"
        _record(report, source, _bundle_envelope(target, item, trust), predicate_type, item.created)
    return report


def _record(
    report: Report,
    source: str,
    outcome: tuple[str, dict[str, Any]] | str,
    predicate_type: str | None,
    time: str | None,
) -> None:
    if isinstance(outcome, str):
        report.rejected.append((source, outcome))
        return
    signer, stmt = outcome
    found_type = str(stmt.get("predicateType"))
    if predicate_type and found_type != predicate_type:
        # The unsigned annotation said one type, the signed Statement another.
        report.rejected.append(
            (source, f"signed by {signer} but its predicate type is {found_type}")
        )
        return
    report.verified.append(Verified(source, "attestation", signer, found_type, stmt, time=time))
