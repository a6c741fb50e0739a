"""A build request: the command-line inputs, checked before anything talks to the engine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mltoolkit.build.params import parse_build_args, parse_labels
from mltoolkit.errors import InputError
from mltoolkit.oci.reference import ImageRef

DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class BuildRequest:
    """What to build and where to push it; every path exists and every value is well-formed."""

    context: Path
    dockerfile: Path
    image: ImageRef
    """The repository (no tag, no digest)."""
    tags: tuple[str, ...]
    build_args: dict[str, str]
    labels: dict[str, str]
    push: bool
    provenance: Path | None

    @property
    def dockerfile_for_engine(self) -> str:
        """The Dockerfile as the engine wants it: relative to the context when inside it."""
        try:
            return self.dockerfile.resolve().relative_to(self.context.resolve()).as_posix()
        except ValueError:
            return str(self.dockerfile.resolve())


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def make_request(
    *,
    context: Path,
    dockerfile: Path | None,
    image: str,
    tags: Iterable[str],
    build_args: Iterable[str],
    labels: Iterable[str],
    push: bool,
    provenance: Path | None,
) -> BuildRequest:
    """Check the inputs; InputError (exit 2) naming the first one that is wrong.

    ``dockerfile`` is relative to the working directory, as with ``docker build -f``; it defaults
    to ``CONTEXT/Dockerfile``. A tag written in ``image`` (``repo:1.0``) counts as the first tag.
    """
    parsed_args = parse_build_args(build_args)
    parsed_labels = parse_labels(labels)
    ref = ImageRef.parse(image)
    if ref.digest is not None:
        raise InputError(
            f"--image {image!r} names a digest; a build makes a new one",
            where="--image",
            fix="pass the repository, and tags with --tag",
        )
    tag_list = ([ref.tag] if ref.tag else []) + list(tags)
    for tag in tag_list:
        ref.with_tag(tag)  # InputError on a malformed tag
    if not context.exists():
        raise InputError(
            f"build context {context} does not exist",
            where="--context",
            fix="pass the directory that holds the files the Dockerfile copies",
        )
    if not context.is_dir():
        raise InputError(
            f"build context {context} is not a directory", where="--context", fix="pass a directory"
        )
    chosen = dockerfile if dockerfile is not None else context / "Dockerfile"
    if not chosen.is_file():
        raise InputError(
            f"Dockerfile {chosen} does not exist"
            if not chosen.exists()
            else f"Dockerfile {chosen} is not a file",
            where="--file",
            fix="pass --file PATH (relative to the working directory), or add CONTEXT/Dockerfile",
        )
    return BuildRequest(
        context=context,
        dockerfile=chosen,
        image=ref.repo_only(),
        tags=_unique(tag_list) or (DEFAULT_TAG,),
        build_args=parsed_args,
        labels=parsed_labels,
        push=push,
        provenance=provenance,
    )
