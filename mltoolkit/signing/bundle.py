"""cosign 3.x storage: Sigstore bundles (v0.3) as OCI 1.1 referrers of the image (BUNDLE_SPEC.md).

Each bundle is one blob under an artifact manifest whose ``subject`` is the image. Where the
registry has no Referrers API, the ``sha256-<hex>`` tag holds an image index of the referrers
(the tag-schema fallback), which the registry client updates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.signing.keys import PublicKey, key_hint

if TYPE_CHECKING:
    from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing.storage import OCI_MANIFEST

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"


def make_bundle(envelope: dict[str, Any], key: PublicKey) -> bytes:
    """A v0.3 bundle holding a DSSE envelope, verifiable with the public key its hint names."""
    doc = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_hint(key)}, "tlogEntries": []},
        "dsseEnvelope": envelope,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Subject:
    """The image a referrer points at."""

    digest: Digest
    media_type: str
    size: int


@dataclass(frozen=True)
class BundleItem:
    """One bundle found among the image's referrers."""

    manifest_digest: str
    bundle: dict[str, Any]
    annotations: dict[str, str]

    @property
    def created(self) -> str | None:
        """When the pusher says it was made (unsigned: the manifest annotation)."""
        return self.annotations.get(CREATED_ANNOTATION)


def push_bundle(
    client: RegistryClient, repo: ImageRef, subject: Subject, bundle: bytes, predicate_type: str
) -> Digest:
    """Push ``bundle`` as a referrer of ``subject`` and record it in the fallback tag index."""
    bundle_digest = client.put_blob(repo, bundle)
    client.put_blob(repo, b"{}")
    annotations = {
        CONTENT_ANNOTATION: "dsse-envelope",
        PREDICATE_ANNOTATION: predicate_type,
        CREATED_ANNOTATION: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": str(Digest.of(b"{}")), "size": 2},
        "layers": [
            {
                "mediaType": BUNDLE_MEDIA_TYPE,
                "digest": str(bundle_digest),
                "size": len(bundle),
                "annotations": {
                    "org.opencontainers.image.title": f"{bundle_digest.tag_form}.sigstore.json"
                },
            }
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        },
        "annotations": annotations,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return client.put_referrer(repo, data, OCI_MANIFEST)


def list_bundles(
    client: RegistryClient,
    repo: ImageRef,
    subject: Digest,
    wanted: Callable[[str | None], bool] | None = None,
) -> tuple[list[BundleItem], list[tuple[str, str]]]:
    """The bundles referring to ``subject`` and the referrers that could not be read (why).

    ``wanted`` sees the predicate type the referrers index announces (None when it says none)
    and skips the others before their manifests are fetched; the signed Statement is still
    checked by the caller, the annotation being unsigned.
    """
    found: list[BundleItem] = []
    broken: list[tuple[str, str]] = []
    for desc in client.referrers(repo, subject):
        artifact_type = str(desc.get("artifactType", ""))
        if not artifact_type.startswith(BUNDLE_MEDIA_PREFIX):
            continue
        announced = (desc.get("annotations") or {}).get(PREDICATE_ANNOTATION)
        if wanted is not None and not wanted(announced if isinstance(announced, str) else None):
            continue
        digest = str(desc.get("digest", ""))
        where = f"referrer {digest}"
        manifest = client.get_manifest(repo, digest)
        doc = json.loads(manifest.data)
        subject_digest = (doc.get("subject") or {}).get("digest")
        if subject_digest != str(subject):
            broken.append((where, f"its subject is {subject_digest}, not {subject}"))
            continue
        layers = [
            layer
            for layer in doc.get("layers", [])
            if str(layer.get("mediaType", "")).startswith(BUNDLE_MEDIA_PREFIX)
        ]
        if not layers:
            broken.append((where, "it has no bundle layer"))
            continue
        layer_digest = Digest.parse(str(layers[0].get("digest")), where=where)
        blob = client.get_blob(repo, layer_digest)
        try:
            bundle = json.loads(blob)
        except ValueError:
            broken.append((where, "its bundle is not JSON"))
            continue
        annotations = {str(k): str(v) for k, v in (doc.get("annotations") or {}).items()}
        found.append(BundleItem(digest, bundle, annotations))
    return found, broken
