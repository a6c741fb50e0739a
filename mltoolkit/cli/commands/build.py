"""``mltoolkit build``: build an image with the Docker engine, label it, push it, describe it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mltoolkit.cli.context import emit, log, settings

if TYPE_CHECKING:
    from mltoolkit.build.pipeline import BuildOutcome

_HELP = """Build an image from a Dockerfile with the Docker engine (classic builder), and push it.

\b
The image gets the OCI labels org.opencontainers.image.source, .revision, .created and
.version (from git, the CI run and the first tag other than 'latest'); .created honours
SOURCE_DATE_EPOCH. A --label with the same key replaces a default label.

\b
Outputs (also as CI step outputs): image, digest, ref, tags. After --push, digest is the
manifest digest the registry serves and ref is REPO@DIGEST. Without --push, digest is the
local image ID (the registry digest is only known after a push) and ref is REPO:TAG.

\b
Exit codes: 1 a build step failed; 2 bad flags, missing context or Dockerfile;
3 no reachable Docker engine, or the registry failed after retries.
"""


@click.command("build", help=_HELP)
@click.option(
    "--context",
    "context",
    required=True,
    type=click.Path(path_type=Path),
    help="Build context directory.",
)
@click.option(
    "--file",
    "-f",
    "dockerfile",
    type=click.Path(path_type=Path),
    default=None,
    help="Dockerfile, relative to the working directory (default: CONTEXT/Dockerfile).",
)
@click.option(
    "--image", required=True, metavar="REPO", help="Repository, e.g. host:5000/team/model."
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Tag (repeatable; default latest)."
)
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="Build argument."
)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Image label.")
@click.option("--push", is_flag=True, help="Push every tag and report the registry's digest.")
@click.option(
    "--provenance",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the SLSA v1 provenance predicate here (for `mltoolkit attest`).",
)
def build(
    *,
    context: Path,
    dockerfile: Path | None,
    image: str,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    labels: tuple[str, ...],
    push: bool,
    provenance: Path | None,
) -> None:
    """Build, tag and optionally push an image."""
    # Imported here so that `mltoolkit --help` and other commands never load the Docker SDK.
    from mltoolkit.build.builder import BuildFailedError
    from mltoolkit.build.pipeline import run_build
    from mltoolkit.build.request import make_request
    from mltoolkit.ci import detect

    request = make_request(
        context=context,
        dockerfile=dockerfile,
        image=image,
        tags=tags,
        build_args=build_args,
        labels=labels,
        push=push,
        provenance=provenance,
    )
    platform = detect()
    try:
        outcome = run_build(
            request,
            run=platform.run_info(),
            source_date_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
            insecure_registries=settings().insecure_registries,
            on_line=log,
        )
    except BuildFailedError as exc:
        log("")
        log(f"build failed at: {exc.step or 'the start of the build'}")
        if exc.tail:
            log(f"last {len(exc.tail)} lines of its output:")
            for line in exc.tail:
                log(f"  | {line}")
        raise
    platform.set_outputs(outcome.outputs())
    platform.summary(_summary(outcome))
    emit(outcome.to_dict(), _human(outcome))


def _cache_note(steps: int, cached: int) -> str:
    return f"{steps} steps, {cached} from cache"


def _human(outcome: BuildOutcome) -> str:
    lines = [f"built {outcome.image} ({_cache_note(outcome.steps, outcome.cached_steps)})"]
    if outcome.pushed:
        lines.append(f"digest: {outcome.digest}")
    else:
        lines.append(f"digest: {outcome.digest} (local image ID; the digest is known after --push)")
    lines.append(f"ref:    {outcome.ref}")
    lines.append(f"tags:   {', '.join(outcome.tags)}")
    if outcome.provenance is not None:
        lines.append(f"provenance: {outcome.provenance}")
    return "\n".join(lines)


def _summary(outcome: BuildOutcome) -> str:
    state = "built and pushed" if outcome.pushed else "built (not pushed)"
    rows = [
        ("image", outcome.image),
        ("digest", outcome.digest if outcome.pushed else f"{outcome.digest} (local image ID)"),
        ("ref", outcome.ref),
        ("tags", ", ".join(outcome.tags)),
        ("steps", _cache_note(outcome.steps, outcome.cached_steps)),
    ]
    if outcome.provenance is not None:
        rows.append(("provenance", str(outcome.provenance)))
    table = "\n".join(f"| {key} | `{value}` |" for key, value in rows)
    return f"### Image {state}: `{outcome.ref}`\n\n| | |\n|---|---|\n{table}\n"
