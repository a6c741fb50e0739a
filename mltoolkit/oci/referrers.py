"""The OCI referrers tag schema: an image index at tag ``sha256-<hex>`` listing the referrers.

Pure functions over manifest bytes; the registry client does the reads and writes.
"""

from __future__ import annotations

import json
from typing import Any

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.oci import media_types as mt
from mltoolkit.oci.manifest import Manifest
from mltoolkit.oci.reference import Digest


def index_entries(data: bytes, where: str) -> list[dict[str, Any]]:
    """The descriptors listed in a referrers index (Referrers API answer or fallback tag)."""
    try:
        index = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExternalError("the referrers index is not valid JSON", where=where) from exc
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise ExternalError("the referrers index has no manifests list", where=where)
    return [m for m in manifests if isinstance(m, dict)]


def lists_referrer(index: Manifest, digest: str) -> bool:
    """Whether the referrers index ``index`` lists the manifest ``digest``."""
    entries = index.json().get("manifests")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and e.get("digest") == digest for e in entries
    )


def with_referrer(current: Manifest | None, descriptor: dict[str, Any], where: str) -> bytes:
    """The fallback index ``current`` (None: none yet) with ``descriptor`` added."""
    for key in ("mediaType", "digest", "size"):
        if key not in descriptor:
            raise InputError(f"referrer descriptor has no {key!r}", where=where)
    if current is None:
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    else:
        index = current.json()
        if current.media_type != mt.OCI_INDEX or not isinstance(index.get("manifests"), list):
            raise ExternalError(
                f"the referrers tag holds a {current.media_type}, not an OCI image index",
                where=where,
                fix="remove that tag; the referrers tag schema reserves it",
            )
    index["manifests"].append(descriptor)
    return json.dumps(index, separators=(",", ":")).encode()


def referrer_descriptor(manifest: Manifest, where: str) -> tuple[Digest, dict[str, Any]]:
    """The subject of a referrer manifest and the descriptor that lists it in an index.

    ``artifactType`` is the manifest's, else its config media type (OCI 1.1); annotations are
    copied so that clients can filter without fetching each manifest.
    """
    body = manifest.json()
    subject = body.get("subject")
    if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
        raise InputError("the manifest has no subject descriptor", where=where)
    descriptor = manifest.descriptor()
    config = body.get("config")
    artifact_type = body.get("artifactType") or (
        config.get("mediaType") if isinstance(config, dict) else None
    )
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if body.get("annotations"):
        descriptor["annotations"] = body["annotations"]
    return Digest.parse(subject["digest"], where=where), descriptor
