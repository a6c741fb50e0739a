"""The blob upload protocol: start a session, PATCH chunks, PUT to finish, DELETE to cancel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO

import requests

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.oci import media_types as mt
from mltoolkit.oci.manifest import header_digest
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.transport import RegistryTransport, push_scope


def upload_location(response: requests.Response, repo: ImageRef) -> str:
    """The upload session URL a registry answered with."""
    location = response.headers.get("Location")
    if not location:
        raise ExternalError(
            f"registry answered a blob upload without a Location (HTTP {response.status_code})",
            where=repo.name,
            fix="check the registry",
        )
    return location


class BlobUpload:
    """One blob upload session in ``repo``."""

    def __init__(self, transport: RegistryTransport, repo: ImageRef, location: str) -> None:
        self.transport = transport
        self.repo = repo
        self.location = location
        self.offset = 0

    @classmethod
    def start(cls, transport: RegistryTransport, repo: ImageRef) -> BlobUpload:
        """Open an upload session (``POST /v2/<repo>/blobs/uploads/``)."""
        response = transport.request(
            "POST",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/uploads/",
            scopes=[push_scope(repo)],
            what="starting a blob upload",
            where=repo.name,
        )
        with response:
            return cls(transport, repo, upload_location(response, repo))

    def patch(self, chunk: bytes) -> None:
        """Send the next chunk (``PATCH`` with ``Content-Range``)."""
        last = self.offset + len(chunk) - 1
        response = self.transport.request(
            "PATCH",
            self.repo.api_host,
            self.location,
            scopes=[push_scope(self.repo)],
            what=f"uploading bytes {self.offset}-{last}",
            where=self.repo.name,
            headers={"Content-Type": mt.OCTET_STREAM, "Content-Range": f"{self.offset}-{last}"},
            body=chunk,
        )
        with response:
            self.location = upload_location(response, self.repo)
        self.offset += len(chunk)

    def finish(self, digest: Digest, body: bytes | IO[bytes] | None = None) -> None:
        """Close the session with the digest (``PUT ?digest=``), sending ``body`` if any."""
        response = self.transport.request(
            "PUT",
            self.repo.api_host,
            self.location,
            scopes=[push_scope(self.repo)],
            what=f"completing the upload of blob {digest}",
            where=f"{self.repo.name}@{digest}",
            params={"digest": str(digest)},
            headers={"Content-Type": mt.OCTET_STREAM},
            body=body if body is not None else b"",
        )
        with response:
            stored = header_digest(response, self.repo.name)
        if stored is not None and stored.algorithm == digest.algorithm and stored != digest:
            raise ExternalError(
                f"registry stored the blob as {stored}, not {digest}", where=self.repo.name
            )

    def cancel(self) -> None:
        """Abandon the session; best effort, the registry expires abandoned uploads itself."""
        with contextlib.suppress(ExternalError):
            self.transport.request(
                "DELETE",
                self.repo.api_host,
                self.location,
                scopes=[push_scope(self.repo)],
                what="cancelling a blob upload",
                where=self.repo.name,
                allow=range(400, 600),
            ).close()


def chunked_upload(
    transport: RegistryTransport,
    repo: ImageRef,
    chunks: Iterator[bytes],
    *,
    chunk_size: int,
    expected: Digest | None = None,
) -> Digest:
    """Upload ``chunks`` in PATCHes of ``chunk_size`` bytes, hashing as it goes.

    Memory holds at most one chunk plus one incoming piece. With ``expected``, content whose
    digest differs is refused and the session cancelled.
    """
    hasher = (expected or Digest("sha256", "")).hasher()
    upload = BlobUpload.start(transport, repo)
    buffer = bytearray()
    try:
        for piece in chunks:
            hasher.update(piece)
            buffer += piece
            while len(buffer) >= chunk_size:
                upload.patch(bytes(buffer[:chunk_size]))
                del buffer[:chunk_size]
        if buffer:
            upload.patch(bytes(buffer))
        digest = Digest(hasher.name, hasher.hexdigest())
        if expected is not None and digest != expected:
            raise InputError(
                f"the uploaded content has digest {digest}, not {expected}", where=repo.name
            )
        upload.finish(digest)
    except BaseException:
        upload.cancel()
        raise
    return digest
