"""`mltoolkit sbom` for real: a CycloneDX SBOM of a pushed image, written by trivy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_sbom_lists_the_python_package(
    docker_client, registry, busybox_image, services, trivy_bin, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    context = tmp_path / "ctx"
    meta = context / "root/usr/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_text("Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n")
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY root/ /\n")
    repository = f"{registry}/mltoolkit-test/sbom"
    docker_client.images.build(path=str(context), tag=f"{repository}:test", rm=True, forcerm=True)
    digest = None
    for line in docker_client.images.push(repository, tag="test", stream=True, decode=True):
        assert "error" not in line, line
        digest = (line.get("aux") or {}).get("Digest") or digest
    out = tmp_path / "sbom.cdx.json"
    env = {**os.environ, **services, "MLTOOLKIT_TRIVY": str(trivy_bin)}
    # As in a GitLab job: the outputs go to a dotenv report, the summary to a file.
    dotenv, summary = tmp_path / "mltoolkit.env", tmp_path / "summary.md"
    gitlab = {"MLTOOLKIT_PLATFORM": "gitlab", "MLTOOLKIT_DOTENV": str(dotenv)}
    gitlab["MLTOOLKIT_SUMMARY"] = str(summary)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltoolkit",
            "sbom",
            f"{repository}@{digest}",
            "--output",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env={**env, **gitlab},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["bomFormat"] == "CycloneDX"
    purls = {c.get("purl") for c in doc.get("components", [])}
    assert "pkg:pypi/requests@2.19.0" in purls
    assert digest in json.dumps(doc["metadata"])
    published = dotenv.read_text().splitlines()
    assert f"MLTOOLKIT_DIGEST={digest}" in published
    assert f"MLTOOLKIT_SBOM={out}" in published
    assert f"MLTOOLKIT_COMPONENTS={len(doc['components'])}" in published
    assert summary.read_text().startswith(f"### SBOM of `{repository}@{digest}`: CycloneDX")
    tag = subprocess.run(
        [sys.executable, "-m", "mltoolkit", "sbom", f"{repository}:test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert tag.returncode == 2 and f"{repository}@{digest}" in tag.stderr
