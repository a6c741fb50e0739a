"""SLSA v1 provenance for an image built by ``mltoolkit build``.

The predicate (https://slsa.dev/spec/v1.0/provenance) is written on its own, as ``cosign attest
--predicate`` and ``mltoolkit attest --predicate`` take it; the subject (the image digest) is the
build's ``ref``/``digest`` output, passed to the attest step beside the file.

Build type ``BUILD_TYPE``: a Docker build of a local context with the engine's classic builder.

- ``externalParameters`` (all strings unless noted; absent when unknown):
  ``repository`` (source URL, credentials removed), ``ref`` (full git ref), ``commit``,
  ``context`` (the context directory relative to the repository root), ``dockerfile`` (relative
  to the repository root, or as given outside a repository), ``buildArgs`` (object),
  ``labels`` (object: the ``--label`` values; the OCI defaults follow from the other fields),
  ``image`` (the repository the image was built for) and ``tags`` (array).
- ``internalParameters``: ``builder`` (``docker-classic``), ``pull`` (false: base images come
  from the engine), ``sourceDirty`` (true when the work tree had uncommitted changes to tracked
  files, so ``commit`` does not describe the context exactly).
- ``resolvedDependencies``: the source (``git+URL@REF`` with ``gitCommit``), then one entry per
  ``FROM`` image the engine used: ``name`` as written, ``uri`` a ``pkg:docker`` purl, ``digest``
  the registry manifest digest when the engine knows one (``annotations.digestKind``
  ``manifest``), else the image ID (``imageConfig``: a locally made base image has no manifest);
  ``annotations.imageId`` always.
- To rebuild: check out ``repository`` at ``commit``, then ``mltoolkit build --context CONTEXT
  --file DOCKERFILE`` with the same build args and labels, on an engine holding the same base
  images.

``runDetails.builder.id`` is the CI definition that ran (``RunInfo.builder_id``); outside CI it
is ``LOCAL_BUILDER_ID``, which claims nothing beyond "someone ran this on a machine of theirs"
(SLSA Build L1 at most).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mltoolkit import __version__
from mltoolkit.build.builder import BaseImage
from mltoolkit.build.labels import rfc3339
from mltoolkit.build.source import SourceInfo
from mltoolkit.errors import InputError
from mltoolkit.files import write_json_report
from mltoolkit.oci.reference import ImageRef

if TYPE_CHECKING:
    from mltoolkit.ci import RunInfo

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://mltoolkit.dev/buildtypes/docker-build/v1"
LOCAL_BUILDER_ID = "https://mltoolkit.dev/builders/local/v1"


@dataclass(frozen=True)
class BuildFacts:
    """Everything the provenance records about one build."""

    source: SourceInfo
    dockerfile: str
    build_args: Mapping[str, str]
    user_labels: Mapping[str, str]
    image: str
    tags: Sequence[str]
    base_images: Sequence[BaseImage]
    started: datetime
    finished: datetime
    engine_version: str | None = None


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    # SLSA: unset, null and empty are equivalent; leaving them out keeps verification simple.
    return {k: v for k, v in values.items() if v not in (None, {}, [])}


def docker_purl(name: str) -> str:
    """A ``pkg:docker`` package URL for an image name as written in ``FROM``."""
    try:
        ref = ImageRef.parse(name)
    except InputError:  # e.g. a name with unexpanded variables: record it as written
        return f"pkg:docker/{quote(name, safe='/')}"
    path = (
        ref.repository.removeprefix("library/") if ref.registry == "docker.io" else ref.repository
    )
    purl = f"pkg:docker/{quote(path, safe='/')}@{quote(ref.tag or 'latest', safe='')}"
    if ref.registry != "docker.io":
        purl += f"?repository_url={quote(ref.registry, safe='')}"
    return purl


def _repository_of(name: str) -> str:
    """``registry/repo`` of ``registry/repo:tag@digest`` (the name without tag and digest)."""
    name = name.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def base_image_descriptor(base: BaseImage) -> dict[str, Any]:
    """The ResourceDescriptor of a base image: its manifest digest when known, else its ID."""
    repository = _repository_of(base.name)
    manifest = next(
        (d for d in base.repo_digests if _repository_of(d) == repository),
        base.repo_digests[0] if base.repo_digests else None,
    )
    pinned = manifest.split("@", 1)[1] if manifest else base.image_id
    algorithm, _, hex_part = pinned.partition(":")
    return {
        "name": base.name,
        "uri": docker_purl(base.name),
        "digest": {algorithm: hex_part},
        "annotations": {
            "digestKind": "manifest" if manifest else "imageConfig",
            "imageId": base.image_id,
        },
    }


def source_descriptor(source: SourceInfo) -> dict[str, Any] | None:
    """The ResourceDescriptor of the source commit (None when the commit is unknown)."""
    if not source.commit:
        return None
    descriptor: dict[str, Any] = {"digest": {"gitCommit": source.commit}}
    if source.repository_url:
        uri = f"git+{source.repository_url}"
        descriptor["uri"] = f"{uri}@{source.ref}" if source.ref else uri
    return descriptor


def predicate(
    facts: BuildFacts, run: RunInfo | None, *, invocation_id: str | None = None
) -> dict[str, Any]:
    """The SLSA v1 provenance predicate of this build."""
    source = facts.source
    dependencies = [d for d in [source_descriptor(source)] if d is not None]
    dependencies += [base_image_descriptor(b) for b in facts.base_images]
    builder_id = (run.builder_id if run else None) or LOCAL_BUILDER_ID
    invocation = invocation_id or (run.run_url if run else None) or f"urn:uuid:{uuid.uuid4()}"
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": _compact(
                {
                    "repository": source.repository_url,
                    "ref": source.ref,
                    "commit": source.commit,
                    "context": source.context_path,
                    "dockerfile": facts.dockerfile,
                    "buildArgs": dict(facts.build_args),
                    "labels": dict(facts.user_labels),
                    "image": facts.image,
                    "tags": list(facts.tags),
                }
            ),
            "internalParameters": _compact(
                {"builder": "docker-classic", "pull": False, "sourceDirty": source.dirty}
            ),
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": _compact(
                {
                    "id": builder_id,
                    "version": _compact(
                        {"mltoolkit": __version__, "docker-engine": facts.engine_version}
                    ),
                }
            ),
            "metadata": {
                "invocationId": invocation,
                "startedOn": rfc3339(facts.started),
                "finishedOn": rfc3339(facts.finished),
            },
        },
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` as JSON to ``path``, whole (exit 2 when it cannot be written)."""
    write_json_report(path, document)
