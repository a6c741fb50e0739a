"""``mltoolkit sbom IMAGE@DIGEST``: a CycloneDX SBOM of exactly that digest, via trivy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mltoolkit.cli.commands.scan import (
    attach_attestation,
    attest_options,
    check_attest_options,
    load_policy_if_any,
    pinned_image,
)
from mltoolkit.cli.commands.sign import publish_to_ci, written_text
from mltoolkit.cli.context import emit, log, settings
from mltoolkit.scan.db import default_cache_dir
from mltoolkit.scan.reports import write_json_atomic
from mltoolkit.scan.sbom import generate_sbom


@click.command("sbom")
@click.argument("image")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write the CycloneDX JSON here (default: stdout).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="trivy cache, shared between runs.",
)
@click.option(
    "--image-src",
    type=click.Choice(["remote", "docker"]),
    default="remote",
    show_default=True,
    help="Read the image from the registry or the local engine.",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True)
@attest_options
def sbom(
    *,
    image: str,
    output: Path | None,
    cache_dir: Path | None,
    image_src: str,
    timeout: float,
    attest: bool,
    key_ref: str | None,
    keyless: bool,
    attest_format: str,
) -> None:
    """Write a CycloneDX SBOM of IMAGE@DIGEST (a tag is refused); --attest signs it as a
    ``cyclonedx`` attestation on the digest."""
    check_attest_options(attest, key_ref, keyless)
    opts = settings()
    policy = load_policy_if_any(opts)
    insecure = tuple(opts.insecure_registries) + (policy.registries.insecure if policy else ())
    ref = pinned_image(image, insecure)
    target = f"{ref.name}@{ref.require_digest()}"
    log(f"sbom of {target}")
    doc = generate_sbom(
        target,
        cache_dir=cache_dir or default_cache_dir(),
        insecure=ref.is_insecure(insecure),
        image_src=image_src,
        timeout=timeout,
    )
    components = len(doc.get("components") or [])
    written: dict[str, str] = {}
    if attest:
        from mltoolkit.scan.predicates import CYCLONEDX_PREDICATE_TYPE

        written = attach_attestation(
            ref.repo_only().with_digest(ref.require_digest()),
            insecure,
            CYCLONEDX_PREDICATE_TYPE,
            doc,
            key_ref=key_ref,
            fmt=attest_format,
        )
    to_stdout = output is None or str(output) == "-"
    if not to_stdout:
        write_json_atomic(Path(str(output)), doc)
    _publish(target, "-" if to_stdout else str(output), components, written)
    if to_stdout:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    result = {"image": target, "output": str(output), "components": components}
    emit(
        {**result, "format": "CycloneDX", "attestation": written or None},
        f"wrote {output}: CycloneDX, {components} components"
        + (f"; attested ({', '.join(written)})" if written else ""),
    )


def _publish(target: str, path: str, components: int, written: dict[str, str]) -> None:
    """In CI: outputs ``digest``, ``sbom``, ``components`` (and ``attestation``) and a summary."""
    outputs = {
        "digest": target.rpartition("@")[2],
        "sbom": path,
        "components": str(components),
    }
    rows = [("image", target), ("sbom", path), ("components", str(components))]
    if written:
        outputs["attestation"] = written_text(written)
        rows.append(("attested", ", ".join(written)))
    publish_to_ci(outputs, f"SBOM of `{target}`: CycloneDX, {components} components", rows, written)
