"""The simple-signing payload cosign 2.x signs for a container image (SIGNATURE_SPEC.md).

containers/image parses it strictly: ``critical`` holds exactly ``identity``, ``image`` and
``type``; ``docker-reference`` is the repository without tag or digest, as cosign writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SIMPLE_SIGNING_TYPE = "cosign container image signature"


@dataclass(frozen=True)
class SimpleSigning:
    """The claims of one signature payload."""

    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] = field(default_factory=dict)


def build_payload(
    docker_reference: str, manifest_digest: str, annotations: dict[str, str]
) -> bytes:
    """The payload bytes to sign; deterministic, so that a rerun signs the same bytes."""
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": dict(sorted(annotations.items())) or None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_payload(data: bytes) -> SimpleSigning:
    """Parse a payload; ValueError saying what is wrong (the caller reports it as a rejection)."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"payload is not JSON: {exc}") from None
    critical = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(critical, dict):
        raise ValueError("payload has no 'critical' object")
    if critical.get("type") != SIMPLE_SIGNING_TYPE:
        raise ValueError(f"payload type is {critical.get('type')!r}, not {SIMPLE_SIGNING_TYPE!r}")
    image = critical.get("image")
    identity = critical.get("identity")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    if not isinstance(digest, str):
        raise ValueError("payload has no critical.image.docker-manifest-digest")
    if not isinstance(reference, str):
        raise ValueError("payload has no critical.identity.docker-reference")
    optional = doc.get("optional")
    return SimpleSigning(reference, digest, optional if isinstance(optional, dict) else {})
