"""What ``collect_evidence`` read from the registry, read once and kept.

Signatures and attestations are verified by two passes (``verify_signatures`` and
``verify_attestations``) that each list the image's referrers; ``ReadOnce`` serves the second
pass from memory, and afterwards tells which stored item (layer or bundle manifest) each result
came from and which predicate type it claimed, without another request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import Error
from mltoolkit.oci.reference import Digest
from mltoolkit.signing import bundle, storage
from mltoolkit.signing.verify import layer_source

if TYPE_CHECKING:
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.oci.registry import Manifest, RegistryClient
    from mltoolkit.signing.target import Target


# Requests in flight at once while prefetching: what one registry connection pool (requests'
# default: 10 per host) serves without queueing.
PREFETCH_WORKERS = 8


class ReadOnce:
    """A ``RegistryClient`` view that lists referrers and reads manifests and blobs once."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self._referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._manifests: dict[tuple[str, str], Manifest] = {}
        self._blobs: dict[tuple[str, str], bytes] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def referrers(
        self, repo: ImageRef | str, digest: Digest, artifact_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The referrers of ``digest``, listed on the first call only."""
        key = (_repo_name(repo), f"{digest}|{artifact_type or ''}")
        if key not in self._referrers:
            self._referrers[key] = self._client.referrers(repo, digest, artifact_type)
        return self._referrers[key]

    def get_manifest(self, ref: ImageRef | str, reference: str | Digest | None = None) -> Manifest:
        """The manifest, fetched on the first call only (a missing one is asked again)."""
        key = (_repo_name(ref), str(reference))
        if key not in self._manifests:
            self._manifests[key] = self._client.get_manifest(ref, reference)
        return self._manifests[key]

    def get_blob(self, repo: ImageRef | str, digest: Digest) -> bytes:
        """The blob, fetched on the first call only."""
        key = (_repo_name(repo), str(digest))
        if key not in self._blobs:
            self._blobs[key] = self._client.get_blob(repo, digest)
        return self._blobs[key]

    def prefetch(self, target: Target, workers: int = PREFETCH_WORKERS) -> None:
        """Read what both passes will ask for about ``target``, several requests at a time.

        The passes read item after item; against a registry tens of milliseconds away, an
        image with a few dozen signatures and attestations spends seconds waiting on those
        round trips. The tag manifests and the referrers list come first, one by one (they
        also settle the registry's token for the repository); then every layer blob, bundle
        manifest and bundle blob they name, in parallel. Nothing is verified here, and a read
        that fails is simply not kept: the pass asks again and reports it in its own words.
        """
        repo = target.repo
        blobs: list[str] = []
        for suffix in ("sig", "att"):
            try:
                manifest = self.get_manifest(repo, storage.legacy_tag(target.digest, suffix))
            except Error:
                continue
            blobs += [str(d.get("digest", "")) for d in _json(manifest.data).get("layers") or []]
        try:
            listing = self.referrers(repo, target.digest)
        except Error:
            listing = []
        bundles = [
            str(d.get("digest", ""))
            for d in listing
            if str(d.get("artifactType", "")).startswith(bundle.BUNDLE_MEDIA_PREFIX)
        ]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidence") as pool:
            list(pool.map(lambda d: self._quietly(self.get_manifest, repo, d), bundles))
            for digest in bundles:
                stored = self._manifests.get((repo.name, digest))
                layers = _json(stored.data).get("layers") if stored is not None else None
                for layer in layers or []:
                    if str(layer.get("mediaType", "")).startswith(bundle.BUNDLE_MEDIA_PREFIX):
                        blobs.append(str(layer.get("digest", "")))
                        break
            list(pool.map(lambda d: self._quietly(self._blob_of, repo, d), blobs))

    def _blob_of(self, repo: ImageRef, digest: str) -> bytes:
        return self.get_blob(repo, Digest.parse(digest))

    @staticmethod
    def _quietly(read: Callable[[ImageRef, str], object], repo: ImageRef, item: str) -> None:
        # The pass reads it again and reports why it cannot.
        with suppress(Error):
            read(repo, item)

    def stored_items(self, target: Target) -> dict[str, tuple[str, str | None]]:
        """For each source name the verifier used: the digest of the stored item (layer or
        bundle manifest) and the predicate type it claims (None when it cannot be read)."""
        items: dict[str, tuple[str, str | None]] = {}
        repo = target.repo.name
        for suffix in ("sig", "att"):
            manifest = self._manifests.get((repo, storage.legacy_tag(target.digest, suffix)))
            if manifest is None:
                continue
            for index, desc in enumerate(_json(manifest.data).get("layers") or []):
                layer = storage.Layer(str(desc.get("mediaType", "")), "", {}, b"", index)
                digest = str(desc.get("digest", ""))
                claimed = bundle.SIGN_PREDICATE_TYPE if suffix == "sig" else None
                annotations = desc.get("annotations") or {}
                claimed = claimed or annotations.get(storage.PREDICATE_TYPE_ANNOTATION)
                if claimed is None:
                    claimed = _claimed_by_envelope(_json(self._blob(repo, digest)))
                items[layer_source(target, suffix, layer)] = (digest, _text(claimed))
        for (name, key), listing in self._referrers.items():
            if name != repo or not key.startswith(f"{target.digest}|"):
                continue
            for desc in listing:
                digest = str(desc.get("digest", ""))
                claimed = (desc.get("annotations") or {}).get(bundle.PREDICATE_ANNOTATION)
                if claimed is None:
                    claimed = self._claimed_by_bundle(repo, digest)
                items[f"bundle referrer {digest}"] = (digest, _text(claimed))
                items[f"referrer {digest}"] = items[f"bundle referrer {digest}"]
        return items

    def _claimed_by_bundle(self, repo: str, manifest_digest: str) -> Any:
        manifest = self._manifests.get((repo, manifest_digest))
        if manifest is None:
            return None
        doc = _json(manifest.data)
        claimed = (doc.get("annotations") or {}).get(bundle.PREDICATE_ANNOTATION)
        if claimed is not None:
            return claimed
        for layer in doc.get("layers") or []:
            envelope = _json(self._blob(repo, str(layer.get("digest", "")))).get("dsseEnvelope")
            if envelope is not None:
                return _claimed_by_envelope(envelope)
        return None

    def _blob(self, repo: str, digest: str) -> bytes:
        return self._blobs.get((repo, digest), b"")


def _repo_name(ref: ImageRef | str) -> str:
    return ref if isinstance(ref, str) else ref.name


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _claimed_by_envelope(envelope: Any) -> Any:
    """The ``predicateType`` of a DSSE envelope's Statement, read without verifying it."""
    if not isinstance(envelope, dict):
        return None
    try:
        payload = base64.b64decode(str(envelope.get("payload", "")), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _json(payload).get("predicateType")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
