"""What a serving image says about the model it carries: the ``dev.mltoolkit.model.digest`` label.

Build the serving image with the label set to ``mltoolkit model-digest MODEL_DIR`` (the same
directory the image copies in); ``register`` reads it from the image config blob in the registry
and refuses an image whose model is not the version's artifacts.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import ExternalError, InputError

if TYPE_CHECKING:
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.oci.registry import RegistryClient

MODEL_DIGEST_LABEL = "dev.mltoolkit.model.digest"


def _json_object(data: bytes, what: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ExternalError(f"the image {what} is not valid JSON", where=where) from None
    if not isinstance(value, dict):
        raise ExternalError(f"the image {what} is not a JSON object", where=where)
    return value


def image_labels(client: RegistryClient, ref: ImageRef) -> dict[str, str]:
    """The labels in the config of the image ``ref`` (which must name a digest).

    An index (multi-platform image) is refused: each platform's image carries its own model
    label, so register the platform image's digest.
    """
    digest = ref.require_digest()
    repo = ref.repo_only()
    manifest = client.get_manifest(repo, str(digest))
    if manifest.is_index:
        raise InputError(
            "the image is an index (multi-platform); its model label is per platform",
            where=str(ref),
            fix="pass the digest of the platform image that serves the model",
        )
    config = manifest.json().get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        raise ExternalError("the image manifest has no config descriptor", where=str(ref))
    from mltoolkit.oci.reference import Digest

    blob = client.get_blob(repo, Digest.parse(config["digest"]))
    doc = _json_object(blob, "config", str(ref))
    labels = (doc.get("config") or {}).get("Labels") or {}
    if not isinstance(labels, dict):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


def image_model_digest(client: RegistryClient, ref: ImageRef) -> str | None:
    """The model digest the image declares (None when it has no label)."""
    return image_labels(client, ref).get(MODEL_DIGEST_LABEL) or None
