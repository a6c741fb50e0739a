"""CycloneDX SBOMs of one image digest, written by trivy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltoolkit.errors import ExternalError
from mltoolkit.scan.trivy import DEFAULT_TIMEOUT, find_trivy, run_trivy


def sbom_args(
    image: str, *, cache_dir: Path, insecure: bool, image_src: str, timeout: float
) -> list[str]:
    """trivy's command line (after the binary) for a CycloneDX SBOM of ``image``."""
    args = [
        "image",
        "--format",
        "cyclonedx",
        "--quiet",
        "--cache-dir",
        str(cache_dir),
        "--image-src",
        image_src,
        "--timeout",
        f"{max(1, int(timeout))}s",
    ]
    if insecure:
        args.append("--insecure")
    return [*args, image]


def generate_sbom(
    image: str,
    *,
    cache_dir: Path,
    insecure: bool = False,
    image_src: str = "remote",
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """The CycloneDX document (JSON) trivy writes for ``image`` (a reference with a digest)."""
    trivy = find_trivy(cache_dir)
    args = sbom_args(
        image, cache_dir=cache_dir, insecure=insecure, image_src=image_src, timeout=timeout
    )
    doc = run_trivy(trivy, args, timeout=timeout + 30)
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise ExternalError("trivy did not write a CycloneDX document", where=image)
    return doc
