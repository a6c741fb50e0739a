"""Streaming blob content: a reader that checks the digest, and sources for uploads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, cast

import requests

from mltoolkit.errors import ExternalError
from mltoolkit.oci.manifest import READ_SIZE
from mltoolkit.oci.reference import Digest


class BlobReader:
    """A blob streamed from the registry, checked against its digest when fully read."""

    def __init__(self, response: requests.Response, digest: Digest, where: str) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_content(READ_SIZE)
        self._hasher = digest.hasher()
        self._buffer = b""
        self._verified = False
        self.digest = digest
        self.where = where
        length = response.headers.get("Content-Length")
        self.size = int(length) if length and length.isdigit() else None
        self.read_bytes = 0

    def _next(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._verify()
            return b""
        except requests.exceptions.RequestException as exc:
            raise ExternalError(
                f"download of blob {self.digest} broke off ({type(exc).__name__})",
                where=self.where,
                fix="retry; check the registry's health",
            ) from exc
        self._hasher.update(chunk)
        self.read_bytes += len(chunk)
        return chunk

    def _verify(self) -> None:
        if self._verified:
            return
        actual = self._hasher.hexdigest()
        if actual != self.digest.hex:
            raise ExternalError(
                f"blob {self.digest} from the registry has digest "
                f"{self.digest.algorithm}:{actual} (corrupted or tampered)",
                where=self.where,
                fix="check the registry's storage; do not trust this blob",
            )
        self._verified = True

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        while chunk := self._next():
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); b"" at the verified end."""
        while size < 0 or len(self._buffer) < size:
            chunk = self._next()
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        """Release the connection."""
        self._response.close()


def hash_file(file: IO[bytes], algorithm: str = "sha256") -> Digest:
    """The digest of the rest of ``file`` (read in blocks)."""
    hasher = Digest(algorithm, "").hasher()
    while block := file.read(READ_SIZE):
        hasher.update(block)
    return Digest(algorithm, hasher.hexdigest())


def iter_source(source: IO[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    """Blocks of a file, or the chunks of an iterable, as they come."""
    if hasattr(source, "read"):
        file = cast(IO[bytes], source)
        while block := file.read(READ_SIZE):
            yield block
    else:
        yield from source
