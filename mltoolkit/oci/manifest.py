"""Manifests as the registry serves them, and the answers a registry can give about them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.oci import media_types as mt
from mltoolkit.oci.reference import Digest

MANIFEST_MAX_BYTES = 4 * 1024 * 1024  # distribution's own limit for a manifest
READ_SIZE = 64 * 1024


class NotFound(InputError):
    """A manifest, tag or blob that the registry does not have. Exit 2."""


class ManifestNotFound(NotFound):
    """No manifest for that tag or digest."""


class BlobNotFound(NotFound):
    """No blob with that digest in the repository."""


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry serves it, with its media type and digest."""

    data: bytes
    media_type: str
    digest: Digest

    def json(self) -> dict[str, Any]:
        """The manifest parsed; ExternalError if it is not a JSON object."""
        try:
            value = json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ExternalError(
                f"manifest {self.digest} is not valid JSON", where=str(self.digest)
            ) from exc
        if not isinstance(value, dict):
            raise ExternalError(f"manifest {self.digest} is not a JSON object")
        return value

    def descriptor(self) -> dict[str, Any]:
        """An OCI descriptor of this manifest (mediaType, digest, size)."""
        return {"mediaType": self.media_type, "digest": str(self.digest), "size": len(self.data)}

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI image index or a Docker manifest list."""
        return self.media_type in mt.INDEX_TYPES


def is_digest(name: str) -> bool:
    """Whether ``name`` (a manifest reference) is a well-formed digest rather than a tag."""
    try:
        Digest.parse(name)
    except InputError:
        return False
    return True


def media_type_of(response: requests.Response, data: bytes) -> str:
    """The manifest's media type: Content-Type when it is one we know, else its ``mediaType``."""
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if content_type in mt.MANIFEST_TYPES:
        return content_type
    try:
        declared = json.loads(data).get("mediaType")
    except (ValueError, AttributeError, UnicodeDecodeError):
        declared = None
    return declared if isinstance(declared, str) and declared else content_type


def header_digest(response: requests.Response, where: str) -> Digest | None:
    """The ``Docker-Content-Digest`` of a response, if any (malformed: ExternalError)."""
    value = response.headers.get("Docker-Content-Digest")
    if not value:
        return None
    try:
        return Digest.parse(value.strip())
    except InputError as exc:
        raise ExternalError(
            f"registry sent a malformed Docker-Content-Digest {value!r}", where=where
        ) from exc


def read_capped(response: requests.Response, where: str) -> bytes:
    """The body of a streamed response, refusing more than a manifest may hold."""
    data = bytearray()
    try:
        for chunk in response.iter_content(READ_SIZE):
            data += chunk
            if len(data) > MANIFEST_MAX_BYTES:
                raise ExternalError(
                    f"registry sent a manifest over {MANIFEST_MAX_BYTES} bytes",
                    where=where,
                    fix="check the reference; manifests are small JSON documents",
                )
    except requests.exceptions.RequestException as exc:
        raise ExternalError(
            f"reading the answer broke off ({type(exc).__name__})", where=where, fix="retry"
        ) from exc
    return bytes(data)
