"""A client for the OCI distribution API: manifests, blobs, tags, mounts and referrers.

Written on ``requests`` rather than on oras-py (PyPI ``oras`` 0.2.43, read for this): oras-py
retries only HTTP 500, with fixed sleeps of 3 to 83 s, and never 429/502/503/Retry-After or
connection errors in a bounded way; it has no cross-repository mount, no Referrers API or tag
fallback, one insecure flag per client instead of per host, and raises bare ValueErrors.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import requests

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.oci import media_types as mt
from mltoolkit.oci.auth import DockerCredentialStore
from mltoolkit.oci.blob_io import BlobReader, hash_file, iter_source
from mltoolkit.oci.manifest import (
    MANIFEST_MAX_BYTES,
    BlobNotFound,
    Manifest,
    ManifestNotFound,
    NotFound,
    header_digest,
    is_digest,
    media_type_of,
    read_capped,
)
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.referrers import (
    index_entries,
    lists_referrer,
    referrer_descriptor,
    with_referrer,
)
from mltoolkit.oci.retry import RetryPolicy
from mltoolkit.oci.transport import RegistryTransport, error_summary, pull_scope, push_scope
from mltoolkit.oci.upload import BlobUpload, chunked_upload

__all__ = [
    "BlobNotFound",
    "BlobReader",
    "Manifest",
    "ManifestNotFound",
    "NotFound",
    "RegistryClient",
    "RetryPolicy",
]

CHUNK_SIZE = 8 * 1024 * 1024
_REFERRER_UPDATE_TRIES = 3


def _as_ref(ref: ImageRef | str) -> ImageRef:
    return ref if isinstance(ref, ImageRef) else ImageRef.parse(ref)


def _where(ref: ImageRef, name: str) -> str:
    return f"{ref.name}@{name}" if is_digest(name) else f"{ref.name}:{name}"


class RegistryClient:
    """The registry API over one connection pool; use as a context manager.

    ``insecure`` names registries (``host[:port]`` or ``host``) reached over plain HTTP; loopback
    registries always are. Credentials come from the Docker config (``docker_config``: a directory
    or a config.json; default ``$DOCKER_CONFIG`` or ``~/.docker``). ``retry`` bounds the retries
    of 5xx, 429 and connection errors; other 4xx are never retried.
    """

    def __init__(
        self,
        insecure: Iterable[str] = (),
        docker_config: Path | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.transport = RegistryTransport(
            insecure=insecure,
            credentials=DockerCredentialStore(docker_config),
            retry=retry or RetryPolicy(),
            timeout=timeout,
            sleep=sleep,
        )
        self.chunk_size = chunk_size

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.transport.close()

    # -- manifests ---------------------------------------------------------------------------

    def get_manifest(self, ref: ImageRef | str, reference: str | Digest | None = None) -> Manifest:
        """The manifest of ``ref`` (or of ``reference``, a tag or digest, in its repository).

        The digest is computed over the exact bytes served and checked against the digest asked
        for and the ``Docker-Content-Digest`` header. ManifestNotFound when there is none.
        """
        ref = _as_ref(ref)
        name = str(reference) if reference is not None else ref.reference
        where = _where(ref, name)
        response = self.transport.request(
            "GET",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{name}",
            scopes=[pull_scope(ref)],
            what=f"reading manifest {name}",
            where=where,
            headers={"Accept": mt.MANIFEST_ACCEPT},
            stream=True,
            allow=(404,),
        )
        with response:
            if response.status_code == 404:
                raise ManifestNotFound(
                    f"no manifest {name} in {ref.name}",
                    where=where,
                    fix="check the tag or digest (was the image pushed to this repository?)",
                )
            data = read_capped(response, where)
            header = header_digest(response, where)
            media_type = media_type_of(response, data)
        asked = Digest.parse(name) if is_digest(name) else None
        digest = Digest.of(data, (asked or header or Digest("sha256", "")).algorithm)
        for expected, source in (
            (asked, "the digest asked for"),
            (header, "Docker-Content-Digest"),
        ):
            if expected is not None and expected != digest:
                raise ExternalError(
                    f"registry served a manifest with digest {digest}, not {expected} ({source})",
                    where=where,
                    fix="the registry or a proxy altered the manifest; do not use it",
                )
        return Manifest(data, media_type, digest)

    def head_manifest(
        self, ref: ImageRef | str, reference: str | Digest | None = None
    ) -> Digest | None:
        """The digest of the manifest ``ref`` names, or None when the registry has none."""
        ref = _as_ref(ref)
        name = str(reference) if reference is not None else ref.reference
        where = _where(ref, name)
        response = self.transport.request(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{name}",
            scopes=[pull_scope(ref)],
            what=f"checking manifest {name}",
            where=where,
            headers={"Accept": mt.MANIFEST_ACCEPT},
            allow=(404,),
        )
        with response:
            if response.status_code == 404:
                return None
            header = header_digest(response, where)
        if is_digest(name):
            return Digest.parse(name)
        return header if header is not None else self.get_manifest(ref, name).digest

    def resolve(self, ref: ImageRef | str) -> Digest:
        """The digest ``ref`` points to (its tag resolved; a digest checked to exist)."""
        ref = _as_ref(ref)
        digest = self.head_manifest(ref)
        if digest is None:
            raise ManifestNotFound(
                f"no manifest {ref.reference} in {ref.name}",
                where=str(ref),
                fix="check the tag or digest (was the image pushed to this repository?)",
            )
        return digest

    def put_manifest(
        self, repo: ImageRef | str, reference: str | Digest | None, data: bytes, media_type: str
    ) -> Digest:
        """Store ``data`` as a manifest under ``reference`` (a tag, or None/digest: by digest)."""
        return self._put_manifest(_as_ref(repo), reference, data, media_type)[0]

    def _put_manifest(
        self, repo: ImageRef, reference: str | Digest | None, data: bytes, media_type: str
    ) -> tuple[Digest, requests.structures.CaseInsensitiveDict[str]]:
        digest = Digest.of(data)
        name = str(reference) if reference is not None else str(digest)
        where = _where(repo, name)
        if is_digest(name) and Digest.parse(name) != digest:
            raise InputError(
                f"manifest bytes have digest {digest}, not {name}",
                where=where,
                fix="push by the digest of the exact bytes",
            )
        if len(data) > MANIFEST_MAX_BYTES:
            raise InputError(
                f"manifest is {len(data)} bytes, over the {MANIFEST_MAX_BYTES} registries accept",
                where=where,
            )
        response = self.transport.request(
            "PUT",
            repo.api_host,
            f"/v2/{repo.repository}/manifests/{name}",
            scopes=[push_scope(repo)],
            what=f"storing manifest {name}",
            where=where,
            headers={"Content-Type": media_type},
            body=data,
        )
        with response:
            stored = header_digest(response, where)
            headers = response.headers
        if stored is not None and stored.algorithm == digest.algorithm and stored != digest:
            raise ExternalError(
                f"registry stored the manifest as {stored}, not {digest}",
                where=where,
                fix="the registry or a proxy altered the manifest; check it",
            )
        return digest, headers

    def delete_manifest(self, repo: ImageRef | str, digest: Digest) -> bool:
        """Delete the manifest ``digest``; False when it was not there."""
        repo = _as_ref(repo)
        where = f"{repo.name}@{digest}"
        response = self.transport.request(
            "DELETE",
            repo.api_host,
            f"/v2/{repo.repository}/manifests/{digest}",
            scopes=[f"repository:{repo.repository}:pull,push,delete"],
            what=f"deleting manifest {digest}",
            where=where,
            allow=(404, 405),
        )
        with response:
            if response.status_code == 405:
                raise ExternalError(
                    f"registry {repo.registry} does not allow deleting manifests "
                    f"({error_summary(response)})",
                    where=where,
                    fix="enable deletion in the registry (distribution: storage.delete.enabled)",
                )
            return response.status_code != 404

    # -- tags --------------------------------------------------------------------------------

    def list_tags(self, repo: ImageRef | str, page_size: int = 1000) -> list[str]:
        """All tags of ``repo`` (following pagination); [] when the repository does not exist."""
        repo = _as_ref(repo)
        tags: list[str] = []
        path: str | None = f"/v2/{repo.repository}/tags/list?n={page_size}"
        while path:
            response = self.transport.request(
                "GET",
                repo.api_host,
                path,
                scopes=[pull_scope(repo)],
                what="listing tags",
                where=repo.name,
                allow=(404,),
            )
            with response:
                if response.status_code == 404:
                    return tags
                try:
                    page = response.json().get("tags") or []
                except (ValueError, AttributeError) as exc:
                    raise ExternalError(
                        "registry answered the tag list with something that is not JSON",
                        where=repo.name,
                    ) from exc
                tags.extend(str(t) for t in page)
                path = response.links.get("next", {}).get("url")
        return tags

    # -- blobs -------------------------------------------------------------------------------

    def blob_exists(self, repo: ImageRef | str, digest: Digest) -> bool:
        """Whether ``repo`` has the blob ``digest``."""
        repo = _as_ref(repo)
        response = self.transport.request(
            "HEAD",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/{digest}",
            scopes=[pull_scope(repo)],
            what=f"checking blob {digest}",
            where=f"{repo.name}@{digest}",
            allow=(404,),
        )
        with response:
            return response.status_code != 404

    @contextmanager
    def open_blob(self, repo: ImageRef | str, digest: Digest) -> Iterator[BlobReader]:
        """Stream the blob ``digest``; reading it to the end checks its digest."""
        repo = _as_ref(repo)
        where = f"{repo.name}@{digest}"
        response = self.transport.request(
            "GET",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/{digest}",
            scopes=[pull_scope(repo)],
            what=f"reading blob {digest}",
            where=where,
            stream=True,
            allow=(404,),
        )
        if response.status_code == 404:
            response.close()
            raise BlobNotFound(
                f"no blob {digest} in {repo.name}",
                where=where,
                fix="check the digest and the repository (was it pushed there?)",
            )
        reader = BlobReader(response, digest, where)
        try:
            yield reader
        finally:
            reader.close()

    def get_blob(self, repo: ImageRef | str, digest: Digest) -> bytes:
        """The whole blob ``digest`` in memory, digest checked (use ``open_blob`` for big ones)."""
        with self.open_blob(repo, digest) as reader:
            return reader.read()

    def download_blob(self, repo: ImageRef | str, digest: Digest, path: Path) -> int:
        """Write the blob to ``path`` atomically (temp file + rename); returns its size."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out, self.open_blob(repo, digest) as reader:
                for chunk in reader:
                    out.write(chunk)
                size = reader.read_bytes
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def put_blob(self, repo: ImageRef | str, data: bytes) -> Digest:
        """Upload ``data`` in one request (skipped when the blob exists); returns its digest."""
        repo = _as_ref(repo)
        digest = Digest.of(data)
        if not self.blob_exists(repo, digest):
            BlobUpload.start(self.transport, repo).finish(digest, data)
        return digest

    def upload_blob(
        self,
        repo: ImageRef | str,
        source: IO[bytes] | Iterable[bytes],
        *,
        digest: Digest | None = None,
        monolithic: bool = False,
    ) -> Digest:
        """Upload a blob from a file or an iterator of byte chunks, in bounded memory.

        Chunked (PATCH per ``chunk_size``) by default; ``monolithic`` sends a seekable file in
        one PUT (hashing it first when ``digest`` is not given). Skipped when ``digest`` is given
        and the blob exists. Returns the digest of what was sent.
        """
        repo = _as_ref(repo)
        if digest is not None and self.blob_exists(repo, digest):
            return digest
        if not monolithic:
            return chunked_upload(
                self.transport,
                repo,
                iter_source(source),
                chunk_size=self.chunk_size,
                expected=digest,
            )
        if not (hasattr(source, "seek") and hasattr(source, "read")):
            raise InputError("a monolithic upload needs a seekable file", where=repo.name)
        file = cast(IO[bytes], source)
        start = file.tell()
        actual = hash_file(file, digest.algorithm if digest else "sha256")
        file.seek(start)
        if digest is not None and actual != digest:
            raise InputError(f"the file has digest {actual}, not {digest}", where=repo.name)
        BlobUpload.start(self.transport, repo).finish(actual, file)
        return actual

    def mount_blob(
        self, src_repo: ImageRef | str, dst_repo: ImageRef | str, digest: Digest
    ) -> bool:
        """Mount ``digest`` from ``src_repo`` into ``dst_repo`` on the same registry, no copy.

        False when the registry declined (different registries, unknown blob, no permission on
        the source): then copy it (``copy_blob``).
        """
        src, dst = _as_ref(src_repo), _as_ref(dst_repo)
        if src.registry != dst.registry:
            return False
        response = self.transport.request(
            "POST",
            dst.api_host,
            f"/v2/{dst.repository}/blobs/uploads/",
            scopes=[push_scope(dst), pull_scope(src)],
            what=f"mounting blob {digest} from {src.repository}",
            where=f"{dst.name}@{digest}",
            params={"mount": str(digest), "from": src.repository},
        )
        with response:
            if response.status_code == 201:
                return True
            location = response.headers.get("Location")
        if location:  # the registry opened an ordinary upload instead: not needed
            BlobUpload(self.transport, dst, location).cancel()
        return False

    def copy_blob(self, src_repo: ImageRef | str, dst_repo: ImageRef | str, digest: Digest) -> str:
        """Make ``digest`` present in ``dst_repo``: "exists", "mounted" or "copied" (streamed)."""
        src, dst = _as_ref(src_repo), _as_ref(dst_repo)
        if self.blob_exists(dst, digest):
            return "exists"
        if self.mount_blob(src, dst, digest):
            return "mounted"
        with self.open_blob(src, digest) as reader:
            chunked_upload(
                self.transport, dst, iter(reader), chunk_size=self.chunk_size, expected=digest
            )
        return "copied"

    # -- referrers ---------------------------------------------------------------------------

    def referrers(
        self, repo: ImageRef | str, digest: Digest, artifact_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests that refer to ``digest`` (OCI 1.1 Referrers API).

        Registries without the API (404) are read through the tag schema: an OCI index at tag
        ``sha256-<hex>``. Filtered by ``artifact_type`` when given.
        """
        repo = _as_ref(repo)
        where = f"{repo.name}@{digest}"
        response = self.transport.request(
            "GET",
            repo.api_host,
            f"/v2/{repo.repository}/referrers/{digest}",
            scopes=[pull_scope(repo)],
            what=f"listing referrers of {digest}",
            where=where,
            params={"artifactType": artifact_type} if artifact_type else None,
            headers={"Accept": mt.OCI_INDEX},
            stream=True,
            allow=(404, 405),
        )
        with response:
            supported = response.status_code not in (404, 405)
            data = read_capped(response, where) if supported else b""
        if supported:
            manifests = index_entries(data, where)
        else:
            try:
                index = self.get_manifest(repo, digest.tag_form)
            except ManifestNotFound:
                return []
            manifests = index_entries(index.data, f"{repo.name}:{digest.tag_form}")
        if artifact_type:
            manifests = [m for m in manifests if m.get("artifactType") == artifact_type]
        return manifests

    def add_referrer_fallback(
        self, repo: ImageRef | str, subject: Digest, descriptor: dict[str, Any]
    ) -> Digest:
        """Add ``descriptor`` to the ``sha256-<hex>`` referrers index of ``subject``.

        For registries without the Referrers API. A read-modify-write: the result is read back
        and the update redone (a few times) if a concurrent writer's index replaced ours.
        Returns the digest of the index.
        """
        repo = _as_ref(repo)
        tag = subject.tag_form
        where = f"{repo.name}:{tag}"
        for _ in range(_REFERRER_UPDATE_TRIES):
            try:
                current: Manifest | None = self.get_manifest(repo, tag)
            except ManifestNotFound:
                current = None
            if current is not None and lists_referrer(current, str(descriptor.get("digest"))):
                return current.digest
            data = with_referrer(current, descriptor, where)
            written = self.put_manifest(repo, tag, data, mt.OCI_INDEX)
            if self.head_manifest(repo, tag) == written:
                return written
        raise ExternalError(
            f"the referrers index {tag} kept changing under concurrent writers",
            where=where,
            fix="retry the command",
        )

    def put_referrer(self, repo: ImageRef | str, data: bytes, media_type: str) -> Digest:
        """Push a manifest that has a ``subject`` and make it findable as a referrer.

        Registries with the Referrers API index it themselves (answering ``OCI-Subject``);
        otherwise the subject's ``sha256-<hex>`` index is updated.
        """
        repo = _as_ref(repo)
        digest, headers = self._put_manifest(repo, None, data, media_type)
        if not headers.get("OCI-Subject"):
            manifest = Manifest(data, media_type, digest)
            subject, descriptor = referrer_descriptor(manifest, f"{repo.name}@{digest}")
            self.add_referrer_fallback(repo, subject, descriptor)
        return digest
