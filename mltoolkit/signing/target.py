"""The image a signature or attestation is about: always a digest, never a tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mltoolkit.errors import InputError
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.signing.bundle import Subject


@dataclass(frozen=True)
class Target:
    """A pinned image: its repository, digest and manifest descriptor."""

    repo: ImageRef
    digest: Digest
    subject: Subject

    @property
    def name(self) -> str:
        """``registry/repository``: the docker-reference and subject name cosign writes."""
        return self.repo.name

    def __str__(self) -> str:
        return f"{self.repo.name}@{self.digest}"


def pinned_target(client: Any, ref: ImageRef, *, action: str) -> Target:
    """The target of ``ref``; a tag is refused with the digest it points to and how to pass it."""
    if ref.digest is None:
        digest = client.resolve(ref)
        raise InputError(
            f"refusing to {action} a tag: {ref} points to {digest} now, and a tag can move",
            where=str(ref),
            fix=f"pass the digest: {ref.name}@{digest}",
        )
    manifest = client.get_manifest(ref.repo_only(), str(ref.digest))
    return Target(
        ref.repo_only(), ref.digest, Subject(ref.digest, manifest.media_type, len(manifest.data))
    )


def resolved_target(client: Any, ref: ImageRef) -> Target:
    """The target of ``ref`` for verification: a tag is resolved to its current digest."""
    digest = ref.digest if ref.digest is not None else client.resolve(ref)
    return Target(ref.repo_only(), digest, Subject(digest, "", 0))
