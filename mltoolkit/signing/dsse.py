"""DSSE envelopes and in-toto Statements v1, the form of every attestation.

PAE (the bytes actually signed): ``"DSSEv1" SP len(type) SP type SP len(body) SP body``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from mltoolkit.signing.keys import PublicKey, Signer, verify_signature

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``payload``."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def statement(subject_name: str, sha256_hex: str, predicate_type: str, predicate: Any) -> bytes:
    """An in-toto Statement v1 about one image digest, serialised deterministically."""
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": sha256_hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def sign_envelope(
    signer: Signer, payload: bytes, payload_type: str = IN_TOTO_PAYLOAD_TYPE
) -> dict[str, Any]:
    """A DSSE envelope with one signature (empty ``keyid``, as cosign writes)."""
    signature = signer.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def parse_envelope(doc: Any) -> Envelope:
    """Parse an envelope (dict); ValueError saying what is malformed."""
    if not isinstance(doc, dict):
        raise ValueError("DSSE envelope is not a JSON object")
    payload_type, payload = doc.get("payloadType"), doc.get("payload")
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise ValueError("DSSE envelope lacks payloadType or payload")
    sigs = doc.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise ValueError("DSSE envelope has no signatures")
    try:
        raw = base64.b64decode(payload, validate=True)
        decoded = tuple(
            base64.b64decode(str(s.get("sig", "")), validate=True)
            for s in sigs
            if isinstance(s, dict)
        )
    except (binascii.Error, ValueError):
        raise ValueError("DSSE envelope payload or signature is not base64") from None
    return Envelope(payload_type, raw, decoded)


def envelope_verifies(envelope: Envelope, key: PublicKey) -> bool:
    """Whether any signature of ``envelope`` verifies with ``key`` over its PAE."""
    message = pae(envelope.payload_type, envelope.payload)
    return any(verify_signature(key, sig, message) for sig in envelope.signatures)


def parse_statement(envelope: Envelope) -> dict[str, Any]:
    """The in-toto Statement in ``envelope``; ValueError when it is not one."""
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise ValueError(
            f"DSSE payload type is {envelope.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE!r}"
        )
    try:
        doc = json.loads(envelope.payload)
    except ValueError:
        raise ValueError("DSSE payload is not JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") not in STATEMENT_TYPES:
        raise ValueError("DSSE payload is not an in-toto Statement")
    if not isinstance(doc.get("subject"), list) or not isinstance(doc.get("predicateType"), str):
        raise ValueError("in-toto Statement lacks subject or predicateType")
    return doc


def subject_digests(stmt: dict[str, Any]) -> set[str]:
    """The ``sha256:<hex>`` digests a Statement is about."""
    found: set[str] = set()
    for subject in stmt.get("subject", []):
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digest, dict) and isinstance(digest.get("sha256"), str):
            found.add("sha256:" + digest["sha256"])
    return found
