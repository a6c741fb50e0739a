"""``mltoolkit build`` end to end: labels, build, tags, push, digest check, provenance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltoolkit.build.builder import build_image, tag_image
from mltoolkit.build.engine import connect, engine_version
from mltoolkit.build.labels import build_time, default_labels, merge_labels, version_from_tags
from mltoolkit.build.provenance import PREDICATE_TYPE, BuildFacts, predicate, write_json
from mltoolkit.build.push import confirm_digest, push_tags
from mltoolkit.build.request import BuildRequest
from mltoolkit.build.source import read_source

if TYPE_CHECKING:
    from mltoolkit.ci import RunInfo


@dataclass(frozen=True)
class BuildOutcome:
    """The result of a build, as outputs and as a JSON document."""

    image: str
    image_id: str
    digest: str
    """The registry's manifest digest after a push; the local image ID without one."""
    pushed: bool
    tags: tuple[str, ...]
    steps: int
    cached_steps: int
    labels: dict[str, str] = field(default_factory=dict)
    provenance: Path | None = None

    @property
    def ref(self) -> str:
        """``REPO@sha256:...`` after a push; ``REPO:TAG`` (the local image) without one."""
        if self.pushed:
            return f"{self.image}@{self.digest}"
        return f"{self.image}:{self.tags[0]}"

    def outputs(self) -> dict[str, str]:
        """Step outputs for the CI platform (strings only)."""
        outputs = {
            "image": self.image,
            "digest": self.digest,
            "ref": self.ref,
            "tags": ",".join(self.tags),
            "image_id": self.image_id,
            "pushed": "true" if self.pushed else "false",
        }
        if self.provenance is not None:
            outputs["provenance"] = str(self.provenance)
        return outputs

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` result."""
        return {
            "ok": True,
            "image": self.image,
            "digest": self.digest,
            "ref": self.ref,
            "tags": list(self.tags),
            "image_id": self.image_id,
            "pushed": self.pushed,
            "steps": self.steps,
            "cached_steps": self.cached_steps,
            "labels": self.labels,
            "provenance": str(self.provenance) if self.provenance else None,
        }


def run_build(
    request: BuildRequest,
    *,
    run: RunInfo | None,
    source_date_epoch: str | None,
    insecure_registries: tuple[str, ...] = (),
    on_line: Callable[[str], None],
) -> BuildOutcome:
    """Build (and push) ``request``; every step's progress goes to ``on_line``."""
    created = build_time(source_date_epoch)
    source = read_source(request.context, run)
    if source.dirty:
        on_line(
            f"warning: {source.root} has uncommitted changes: the revision {source.commit} "
            "does not describe the context exactly"
        )
    defaults = default_labels(
        source, created=created, version=version_from_tags(list(request.tags))
    )
    labels, replaced = merge_labels(defaults, request.labels)
    for key in replaced:
        on_line(f"label {key}: --label {request.labels[key]!r} replaces {defaults[key]!r}")

    client = connect()
    try:
        started = datetime.now(UTC)
        repository = request.image.name
        result = build_image(
            client,
            context=request.context,
            dockerfile=request.dockerfile_for_engine,
            tag=f"{repository}:{request.tags[0]}",
            build_args=request.build_args,
            labels=labels,
            on_line=on_line,
            shown_as=str(request.dockerfile),
        )
        tag_image(client, result.image_id, repository, request.tags[1:])
        finished = datetime.now(UTC)
        digest = result.image_id
        if request.push:
            pushed = push_tags(client, request.image, request.tags, on_line=on_line)
            digest = str(
                confirm_digest(request.image, request.tags, pushed, insecure=insecure_registries)
            )
        if request.provenance is not None:
            facts = BuildFacts(
                source=source,
                dockerfile=source.relative(request.dockerfile),
                build_args=request.build_args,
                user_labels=request.labels,
                image=repository,
                tags=request.tags,
                base_images=result.base_images,
                started=started,
                finished=finished,
                engine_version=engine_version(client),
            )
            write_json(request.provenance, predicate(facts, run))
            on_line(f"wrote {PREDICATE_TYPE} predicate to {request.provenance}")
    finally:
        client.close()
    return BuildOutcome(
        image=repository,
        image_id=result.image_id,
        digest=digest,
        pushed=request.push,
        tags=request.tags,
        steps=result.steps,
        cached_steps=result.cached_steps,
        labels=labels,
        provenance=request.provenance,
    )
