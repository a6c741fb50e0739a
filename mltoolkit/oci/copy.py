"""Copy an image, byte for byte, between repositories (and registries) by digest.

Manifests are copied as the exact bytes served, so the digest in the destination is the digest in
the source: signatures and attestations bound to it stay valid. Blobs are mounted when source and
destination share a registry, else streamed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mltoolkit.errors import ExternalError
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import Manifest, RegistryClient

# Layers that live outside the registry (Windows base layers) are not copied.
_FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
# Tags where cosign 2.x keeps signatures, attestations and SBOMs of sha256-<hex>.
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
_MAX_DEPTH = 4


@dataclass
class CopyReport:
    """What a copy did: the digest, and how many manifests and blobs (by outcome) it moved."""

    digest: Digest
    manifests: int = 0
    blobs: Counter[str] = field(default_factory=Counter)
    attached: list[str] = field(default_factory=list)

    def merge(self, other: CopyReport) -> None:
        """Add another copy's counts to this one."""
        self.manifests += other.manifests
        self.blobs.update(other.blobs)
        self.attached.extend(other.attached)


def copy_image(
    client: RegistryClient, src: ImageRef, dst: ImageRef, *, tag: str | None = None
) -> CopyReport:
    """Copy ``src`` (its digest, else its tag resolved) into ``dst``'s repository.

    Image indexes are copied with all their children. The destination gets the manifest by
    digest and, when ``tag`` (or ``dst.tag``) is given, under that tag too.
    """
    digest = src.digest or client.resolve(src)
    report = CopyReport(digest)
    _copy_manifest(client, src.repo_only(), dst.repo_only(), digest, report=report, depth=0)
    final_tag = tag or dst.tag
    if final_tag:
        manifest = client.get_manifest(dst.repo_only(), digest)
        client.put_manifest(dst.repo_only(), final_tag, manifest.data, manifest.media_type)
    return report


def _copy_manifest(
    client: RegistryClient,
    src: ImageRef,
    dst: ImageRef,
    digest: Digest,
    *,
    report: CopyReport,
    depth: int,
) -> None:
    if depth > _MAX_DEPTH:
        raise ExternalError(
            f"manifest {digest} nests indexes more than {_MAX_DEPTH} deep",
            where=f"{src.name}@{digest}",
        )
    if client.head_manifest(dst, digest) is not None:
        return
    manifest = client.get_manifest(src, digest)
    body = manifest.json()
    if manifest.is_index:
        for child in _descriptors(body.get("manifests"), manifest, src):
            child_digest = Digest.parse(child["digest"])
            _copy_manifest(client, src, dst, child_digest, report=report, depth=depth + 1)
    else:
        blobs = [body.get("config")] if body.get("config") else []
        blobs += body.get("layers") or []
        for blob in _descriptors(blobs, manifest, src):
            if blob.get("mediaType") in _FOREIGN_LAYERS:
                continue
            report.blobs[client.copy_blob(src, dst, Digest.parse(blob["digest"]))] += 1
    client.put_manifest(dst, digest, manifest.data, manifest.media_type)
    report.manifests += 1


def _descriptors(value: Any, manifest: Manifest, src: ImageRef) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else []
    if not all(isinstance(d, dict) and isinstance(d.get("digest"), str) for d in items):
        raise ExternalError(
            f"manifest {manifest.digest} has a malformed descriptor",
            where=f"{src.name}@{manifest.digest}",
        )
    return items


def copy_attached(
    client: RegistryClient, src: ImageRef, dst: ImageRef, subject: Digest
) -> CopyReport:
    """Copy what is attached to ``subject``: cosign tags (.sig/.att/.sbom) and OCI referrers."""
    report = CopyReport(subject)
    for suffix in COSIGN_SUFFIXES:
        tag = subject.tag_form + suffix
        digest = client.head_manifest(src, tag)
        if digest is not None:
            report.merge(copy_image(client, src.repo_only().with_digest(digest), dst, tag=tag))
            report.attached.append(tag)
    referrers = client.referrers(src, subject)
    for descriptor in referrers:
        digest = Digest.parse(descriptor["digest"])
        report.merge(copy_image(client, src.repo_only().with_digest(digest), dst))
        report.attached.append(str(digest))
    if referrers:
        # A registry with the Referrers API indexed the copies itself; else use the tag schema.
        present = {d.get("digest") for d in client.referrers(dst, subject)}
        for descriptor in referrers:
            if descriptor["digest"] not in present:
                client.add_referrer_fallback(dst, subject, descriptor)
    return report
