"""What the signing code needs from the registry client, and the cosign 2.x tag storage.

cosign 2.x ("legacy") keeps signatures under the tag ``sha256-<hex>.sig`` and attestations under
``sha256-<hex>.att`` in the image's repository: one OCI image manifest whose layers are the
signatures (simple-signing payloads) or DSSE envelopes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mltoolkit.oci.reference import Digest, ImageRef

if TYPE_CHECKING:
    from mltoolkit.oci.registry import Manifest, RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
PREDICATE_TYPE_ANNOTATION = "predicateType"


@dataclass(frozen=True)
class Layer:
    """One signature or attestation layer of a ``.sig``/``.att`` manifest, with its blob."""

    media_type: str
    digest: str
    annotations: dict[str, str]
    blob: bytes
    index: int

    @property
    def blob_matches(self) -> bool:
        """Whether the blob's content has the digest its descriptor names."""
        return str(Digest.of(self.blob)) == self.digest


@dataclass
class TagManifest:
    """The layers found under a ``.sig``/``.att`` tag (empty when the tag does not exist).

    ``descriptors`` are the stored manifest's layer descriptors, all of them and as stored:
    what a write keeps. ``layers`` are the ones read with their blobs.
    """

    tag: str
    layers: list[Layer] = field(default_factory=list)
    exists: bool = False
    descriptors: list[dict[str, Any]] = field(default_factory=list)


def legacy_tag(digest: Digest, suffix: str) -> str:
    """``sha256-<hex>.sig`` / ``.att``."""
    return f"{digest.tag_form}.{suffix}"


def fetch_manifest(client: RegistryClient, repo: ImageRef, reference: str) -> Manifest | None:
    """The manifest under ``reference``, or None when there is none."""
    from mltoolkit.oci.registry import ManifestNotFound

    try:
        return client.get_manifest(repo, reference)
    except ManifestNotFound:
        return None


def read_tag(
    client: RegistryClient,
    repo: ImageRef,
    digest: Digest,
    suffix: str,
    wanted: Callable[[dict[str, str]], bool] | None = None,
) -> TagManifest:
    """Read the layers (and their blobs) stored under the image's ``.sig``/``.att`` tag.

    ``wanted`` sees each layer's annotations and leaves out the others without fetching their
    blobs; ``write_tag`` still keeps them, from the stored descriptors.
    """
    tag = legacy_tag(digest, suffix)
    manifest = fetch_manifest(client, repo, tag)
    if manifest is None:
        return TagManifest(tag)
    doc = json.loads(manifest.data)
    layers = []
    descriptors = []
    for index, desc in enumerate(doc.get("layers", [])):
        blob_digest = Digest.parse(str(desc.get("digest", "")), where=f"{repo.name}:{tag}")
        descriptors.append(desc)
        annotations = {str(k): str(v) for k, v in (desc.get("annotations") or {}).items()}
        if wanted is not None and not wanted(annotations):
            continue
        layers.append(
            Layer(
                media_type=str(desc.get("mediaType", "")),
                digest=str(blob_digest),
                annotations=annotations,
                blob=client.get_blob(repo, blob_digest),
                index=index,
            )
        )
    return TagManifest(tag, layers, exists=True, descriptors=descriptors)


def _descriptor(layer: Layer) -> dict[str, Any]:
    return {
        "mediaType": layer.media_type,
        "size": len(layer.blob),
        "digest": layer.digest,
        "annotations": layer.annotations,
    }


def write_tag(client: RegistryClient, repo: ImageRef, current: TagManifest, new: Layer) -> Digest:
    """Push ``new`` as one more layer of the tag's manifest, keeping the existing layers.

    The stored descriptors are kept as stored, and their blobs are not checked again: the
    registry accepted the manifest that names them, in this repository. Only layers built in
    memory (``current.layers`` with no descriptors) are uploaded when missing.
    """
    kept = list(current.descriptors)
    pending = [] if kept else list(current.layers)
    pending.append(new)
    for layer in pending:
        if not client.blob_exists(repo, Digest.parse(layer.digest)):
            client.put_blob(repo, layer.blob)
    descriptors = kept + [_descriptor(layer) for layer in pending]
    digests = [str(d.get("digest", "")) for d in descriptors]
    # The config cosign writes for these images: an empty image config naming the layers.
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"} for _ in descriptors],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": digests},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = client.put_blob(repo, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": str(config_digest)},
        "layers": descriptors,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return client.put_manifest(repo, current.tag, data, OCI_MANIFEST)


def new_layer(media_type: str, blob: bytes, annotations: dict[str, str]) -> Layer:
    """A layer to append, with its digest computed."""
    return Layer(media_type, str(Digest.of(blob)), annotations, blob, index=-1)
