"""Signing an image digest as cosign does: the ``.sig`` tag (2.x) and a bundle referrer (3.x)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from mltoolkit.signing import bundle, dsse, storage
from mltoolkit.signing.keys import Signer, verify_signature
from mltoolkit.signing.payload import build_payload
from mltoolkit.signing.target import Target

FORMATS = ("legacy", "bundle", "both")


@dataclass
class SignResult:
    """What was written (or found already written) for each storage format."""

    image: str
    signer: str
    written: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON result of the command."""
        return {"ok": True, "image": self.image, "key": self.signer, "formats": self.written}


def wants(fmt: str, kind: str) -> bool:
    """Whether ``--format fmt`` includes ``kind`` (legacy or bundle)."""
    return fmt in (kind, "both")


def sign_image(
    client: Any, target: Target, signer: Signer, annotations: dict[str, str], fmt: str = "both"
) -> SignResult:
    """Sign ``target``; a format already holding this key's signature of this payload is kept."""
    result = SignResult(str(target), signer.name)
    if wants(fmt, "legacy"):
        result.written["legacy"] = _sign_legacy(client, target, signer, annotations)
    if wants(fmt, "bundle"):
        predicate: dict[str, Any] = (
            {"annotations": dict(sorted(annotations.items()))} if annotations else {}
        )
        stmt = dsse.statement(target.name, target.digest.hex, bundle.SIGN_PREDICATE_TYPE, predicate)
        result.written["bundle"] = attach_bundle(
            client, target, signer, stmt, bundle.SIGN_PREDICATE_TYPE
        )
    return result


def _sign_legacy(client: Any, target: Target, signer: Signer, annotations: dict[str, str]) -> str:
    payload = build_payload(target.name, str(target.digest), annotations)
    current = storage.read_tag(client, target.repo, target.digest, "sig")
    public = signer.public_key()
    for layer in current.layers:
        if layer.media_type == storage.SIMPLE_SIGNING_MEDIA_TYPE and layer.blob == payload:
            signature = layer.annotations.get(storage.SIGNATURE_ANNOTATION, "")
            if verify_signature(public, _b64(signature), payload):
                return f"unchanged: {current.tag} already holds this signature"
    signature = base64.b64encode(signer.sign(payload)).decode()
    layer = storage.new_layer(
        storage.SIMPLE_SIGNING_MEDIA_TYPE, payload, {storage.SIGNATURE_ANNOTATION: signature}
    )
    storage.write_tag(client, target.repo, current, layer)
    return f"added to {current.tag} (now {len(current.layers) + 1} signature(s))"


def attach_legacy_attestation(
    client: Any, target: Target, signer: Signer, stmt: bytes, predicate_type: str
) -> str:
    """Add a DSSE envelope of ``stmt`` to the ``.att`` tag unless this key already signed it.

    Only layers announcing this predicate type (or none) can hold the same Statement: the
    others' blobs are not fetched (an image gathers one layer per attestation, run after run).
    """

    def same_type(annotations: dict[str, str]) -> bool:
        return annotations.get(storage.PREDICATE_TYPE_ANNOTATION) in (None, predicate_type)

    current = storage.read_tag(client, target.repo, target.digest, "att", same_type)
    public = signer.public_key()
    for layer in current.layers:
        try:
            envelope = dsse.parse_envelope(json.loads(layer.blob))
        except ValueError:
            continue
        if envelope.payload == stmt and dsse.envelope_verifies(envelope, public):
            return f"unchanged: {current.tag} already holds this attestation"
    envelope_doc = dsse.sign_envelope(signer, stmt)
    blob = json.dumps(envelope_doc, separators=(",", ":")).encode()
    layer = storage.new_layer(
        storage.DSSE_MEDIA_TYPE,
        blob,
        {storage.SIGNATURE_ANNOTATION: "", storage.PREDICATE_TYPE_ANNOTATION: predicate_type},
    )
    storage.write_tag(client, target.repo, current, layer)
    return f"added to {current.tag}"


def attach_bundle(
    client: Any, target: Target, signer: Signer, stmt: bytes, predicate_type: str
) -> str:
    """Push a bundle of ``stmt`` as a referrer unless this key already signed the same Statement."""
    public = signer.public_key()
    existing, _ = bundle.list_bundles(
        client, target.repo, target.digest, lambda announced: announced in (None, predicate_type)
    )
    for item in existing:
        try:
            envelope = dsse.parse_envelope(item.bundle.get("dsseEnvelope"))
        except ValueError:
            continue
        if envelope.payload == stmt and dsse.envelope_verifies(envelope, public):
            return f"unchanged: referrer {item.manifest_digest} already holds this signature"
    envelope_doc = dsse.sign_envelope(signer, stmt)
    digest = bundle.push_bundle(
        client,
        target.repo,
        target.subject,
        bundle.make_bundle(envelope_doc, public),
        predicate_type,
    )
    return f"added referrer {digest}"


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""


def attach_keyless_bundle(
    client: Any, target: Target, stmt: bytes, predicate_type: str, token: str
) -> str:
    """Sign ``stmt`` keylessly (Fulcio certificate, Rekor entry); push it as a bundle referrer."""
    from mltoolkit.signing import keyless

    signed = keyless.sign_statement(stmt, token)
    digest = bundle.push_bundle(client, target.repo, target.subject, signed, predicate_type)
    return f"added referrer {digest}"
