"""The sign/verify/scan actions run for real by act, the templates by gitlab-ci-local.

act signs an image pushed to the local registry with a freshly generated (encrypted) key and
verifies it with the verify action; verifying against another key must fail; the scan action
fails on a vulnerable image and still outputs its verdict and a valid SARIF file.
gitlab-ci-local runs sign.yml, sbom.yml (attested) and verify.yml in one pipeline, and scan.yml
against an image with a vulnerable package and the test trivy DB served from the registry: the
job must fail on the gate and still keep a container scanning report that validates against
GitLab's published schema.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from e2e_harness import GITHUB_ORIGIN, ROOT, RunResult, run, tool
from support.images import push_image as push_images_helper  # type: ignore[import-not-found]
from support.trivydb.fixtures import (  # type: ignore[import-not-found]
    trivy_db_repository,
    trivydb_writer,
)

from mltoolkit.oci.reference import ImageRef
from mltoolkit.oci.registry import RegistryClient

pytestmark = pytest.mark.e2e
__all__ = ["trivy_db_repository", "trivydb_writer"]  # fixtures used by name below

SCHEMAS = ROOT / "tests" / "data" / "schemas"
SITE = "usr/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA"
REQUESTS_METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nSummary: HTTP\n"

SIGN_WORKFLOW = """\
name: e2e sign and verify
on: push
permissions: {}
jobs:
  sign:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: sign
        uses: ./actions/sign
        with:
          image: ${{ env.E2E_IMAGE }}
          key: ${{ env.E2E_KEY }}
          annotations: |
            org.example.run=e2e
          cache-dir: ${{ env.E2E_SETUP_CACHE }}
        env:
          MLTOOLKIT_KEY_PASSWORD: ${{ secrets.E2E_KEY_PASSWORD }}
      - id: verify
        uses: ./actions/verify
        with:
          image: ${{ env.E2E_IMAGE }}
          keys: ${{ env.E2E_PUB }}
          cache-dir: ${{ env.E2E_SETUP_CACHE }}
      # The same image against a key that never signed it: the step must fail.
      - id: untrusted
        continue-on-error: true
        uses: ./actions/verify
        with:
          image: ${{ env.E2E_IMAGE }}
          keys: ${{ env.E2E_OTHER_PUB }}
          cache-dir: ${{ env.E2E_SETUP_CACHE }}
      # A vulnerable image fails the gate: the step fails, the outputs and SARIF are there.
      - id: scan
        continue-on-error: true
        uses: ./actions/scan
        with:
          image: ${{ env.E2E_VULNERABLE }}
          fail-on: HIGH
          db-repository: ${{ env.E2E_TRIVY_DB }}
          trivy-cache: ${{ env.E2E_TRIVY_CACHE }}
          sarif: ${{ env.E2E_OUT }}/scan.sarif
          cache-dir: ${{ env.E2E_SETUP_CACHE }}
      - name: Hand the outcomes to the test
        env:
          OUT: ${{ env.E2E_OUT }}
          VERIFY: ${{ steps.verify.outcome }}
          UNTRUSTED: ${{ steps.untrusted.outcome }}
          SCAN: ${{ steps.scan.outcome }}
          VERDICT: ${{ steps.scan.outputs.verdict }}
          DIGEST: ${{ steps.scan.outputs.digest }}
          SARIF: ${{ steps.scan.outputs.sarif }}
          SIGNED: ${{ steps.sign.outputs.ref }}
          VERIFIED: ${{ steps.verify.outputs.verified }}
          SIGNERS: ${{ steps.verify.outputs.signers }}
          UNTRUSTED_VERIFIED: ${{ steps.untrusted.outputs.verified }}
        run: |
          printf '%s' "$VERIFY" >"$OUT/verify-outcome"
          printf '%s' "$UNTRUSTED" >"$OUT/untrusted-outcome"
          printf '%s' "$SCAN" >"$OUT/scan-outcome"
          printf '%s %s %s' "$VERDICT" "$DIGEST" "$SARIF" >"$OUT/scan-outputs"
          printf '%s %s %s' "$SIGNED" "$VERIFIED" "$UNTRUSTED_VERIFIED" >"$OUT/sign-outputs"
          printf '%s' "$SIGNERS" >"$OUT/signers"
"""


def push_image(registry: str, repository: str, files: Mapping[str, bytes]) -> str:
    """Push a one-layer image holding ``files`` straight to the registry; ``repo@digest``."""
    with RegistryClient() as client:
        pinned = push_images_helper(client, f"{registry}/{repository}", "e2e", files)
    return f"{pinned.name}@{pinned.digest}"


def _generate_key(prefix: Path, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "mltoolkit", "keys", "generate", "--output-prefix", str(prefix)],
        env={**os.environ, "MLTOOLKIT_KEY_PASSWORD": password, "MLTOOLKIT_PLATFORM": "local"},
        check=True,
        capture_output=True,
    )


def _act(repo: Path, env: Mapping[str, str], secret: Mapping[str, str], cache: Path) -> RunResult:
    argv = [tool("act"), "push", "-P", "ubuntu-latest=-self-hosted", "--no-cache-server"]
    argv += ["--action-cache-path", str(cache)]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    # A secret reaches act through its environment, by name: never on a command line.
    for key in secret:
        argv += ["--secret", key]
    return run(argv, cwd=repo, env=dict(secret), timeout=240)


def test_sign_verify_and_scan_actions(
    project_repo: Any,
    services: dict[str, str],
    registry: str,
    trivy_db_repository: str,
    setup_cache: Path,
    tmp_path: Path,
) -> None:
    image = push_image(registry, f"e2e/sign-{uuid.uuid4().hex[:8]}", {"hello.txt": b"hi\n"})
    vulnerable = push_image(registry, f"e2e/scan-{uuid.uuid4().hex[:8]}", {SITE: REQUESTS_METADATA})
    keys = tmp_path / "keys"
    keys.mkdir()
    password = secrets.token_urlsafe(16)
    _generate_key(keys / "signer", password)
    _generate_key(keys / "other", secrets.token_urlsafe(16))
    out = tmp_path / "out"
    out.mkdir()
    repo = project_repo({".github/workflows/sign.yml": SIGN_WORKFLOW}, GITHUB_ORIGIN)
    env = {
        **services,
        "E2E_IMAGE": image,
        "E2E_KEY": str(keys / "signer.key"),
        "E2E_PUB": str(keys / "signer.pub"),
        "E2E_OTHER_PUB": str(keys / "other.pub"),
        "E2E_SETUP_CACHE": str(setup_cache),
        "E2E_OUT": str(out),
        "E2E_VULNERABLE": vulnerable,
        "E2E_TRIVY_DB": trivy_db_repository,
        "E2E_TRIVY_CACHE": str(tmp_path / "trivy"),
    }
    result = _act(repo, env, {"E2E_KEY_PASSWORD": password}, tmp_path / "act")

    assert result.returncode == 0, "the workflow failed (its log is above)"
    assert (out / "verify-outcome").read_text() == "success"
    assert (out / "untrusted-outcome").read_text() == "failure"
    assert password not in result.output
    # The sign and verify steps hand over their outputs, the failed verification included.
    assert (out / "sign-outputs").read_text() == f"{image} true false"
    assert str(keys / "signer.pub") in (out / "signers").read_text()
    # The signature is in the registry where cosign 2.x looks for it.
    ref = ImageRef.parse(image)
    digest = ref.require_digest()
    with RegistryClient() as client:
        assert f"{digest.algorithm}-{digest.hex}.sig" in client.list_tags(ref)
    # The scan failed its gate, and still handed over its verdict, digest and SARIF file.
    assert (out / "scan-outcome").read_text() == "failure"
    sarif = out / "scan.sarif"
    scanned = str(ImageRef.parse(vulnerable).require_digest())
    assert (out / "scan-outputs").read_text() == f"fail {scanned} {sarif}"
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(json.loads(sarif.read_text()))
    assert "CVE-2018-18074" in sarif.read_text()


def _scan_pipeline(image: str, db_repository: str, setup_cache: Path, trivy_cache: Path) -> str:
    inputs = {
        "image": image,
        "fail-on": "HIGH",
        "db-repository": db_repository,
        "trivy-cache": str(trivy_cache),
        "cache-dir": str(setup_cache),
    }
    pipeline = {"include": [{"local": "gitlab-templates/scan.yml", "inputs": inputs}]}
    return yaml.safe_dump(pipeline)


def test_scan_template_fails_the_job_on_the_gate_and_keeps_a_valid_report(
    project_repo: Any,
    services: dict[str, str],
    registry: str,
    trivy_db_repository: str,
    setup_cache: Path,
    tmp_path: Path,
) -> None:
    image = push_image(registry, f"e2e/scan-{uuid.uuid4().hex[:8]}", {SITE: REQUESTS_METADATA})
    pipeline = _scan_pipeline(image, trivy_db_repository, setup_cache, tmp_path / "trivy")
    repo = project_repo({".gitlab-ci.yml": pipeline})
    argv = [tool("gitlab-ci-local"), "--force-shell-executor"]
    for key, value in services.items():
        argv += ["--variable", f"{key}={value}"]
    result = run(argv, cwd=repo, env={}, timeout=240)

    # The gate failed: the job (so the pipeline) failed, with the scan's exit code 1.
    assert result.returncode != 0, "the pipeline passed although the image fails the gate"
    assert "scan gate failed" in result.output
    # The reports were collected although the job failed (`when: always`), and the job
    # publishes the container scanning one as GitLab's report.
    artifacts = repo / ".gitlab-ci-local" / "artifacts" / "mltoolkit-scan"
    report = artifacts / "gl-container-scanning-report.json"
    assert report.is_file(), "the container scanning report was not kept as an artifact"
    expanded = yaml.safe_load((repo / ".gitlab-ci-local" / "expanded-gitlab-ci.yml").read_text())
    job = expanded["mltoolkit-scan"]["artifacts"]
    assert job["when"] == "always"
    assert job["reports"]["container_scanning"] == "gl-container-scanning-report.json"
    document = json.loads(report.read_text())
    schema = json.loads(
        (SCHEMAS / "gitlab-container-scanning-report-format-15.2.4.json").read_text()
    )
    jsonschema.Draft7Validator(schema).validate(document)
    ids = {v["identifiers"][0]["value"] for v in document["vulnerabilities"]}
    assert "CVE-2018-18074" in ids
    assert json.loads((artifacts / "mltoolkit-scan.json").read_text())["verdict"] == "fail"
    assert "MLTOOLKIT_VERDICT=fail" in (artifacts / "mltoolkit.env").read_text().splitlines()


def test_sign_sbom_and_verify_templates_in_one_pipeline(
    project_repo: Any,
    services: dict[str, str],
    registry: str,
    setup_cache: Path,
    tmp_path: Path,
) -> None:
    image = push_image(registry, f"e2e/gl-sign-{uuid.uuid4().hex[:8]}", {"hello.txt": b"hi\n"})
    password = secrets.token_urlsafe(16)
    _generate_key(tmp_path / "signer", password)
    common = {"image": image, "cache-dir": str(setup_cache)}
    key = str(tmp_path / "signer.key")
    includes = [
        {"local": "gitlab-templates/sign.yml", "inputs": {**common, "key": key}},
        {
            "local": "gitlab-templates/sbom.yml",
            "inputs": {
                **common,
                "attest": True,
                "key": key,
                "trivy-cache": str(tmp_path / "trivy"),
            },
        },
        {
            "local": "gitlab-templates/verify.yml",
            "inputs": {**common, "keys": str(tmp_path / "signer.pub")},
        },
    ]
    repo = project_repo({".gitlab-ci.yml": yaml.safe_dump({"include": includes})})
    # The password reaches the jobs as a CI/CD variable from gitlab-ci-local's variables file
    # (as a masked project variable would on GitLab), never on a command line.
    variables = {**services, "MLTOOLKIT_KEY_PASSWORD": password}
    (repo / ".gitlab-ci-local-variables.yml").write_text(yaml.safe_dump(variables))
    argv = [tool("gitlab-ci-local"), "--force-shell-executor"]
    result = run(argv, cwd=repo, env={}, timeout=240)

    assert result.returncode == 0, "the pipeline failed (its log is above)"
    assert password not in result.output
    sbom = json.loads((repo / "gl-sbom-mltoolkit.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    ref = ImageRef.parse(image)
    digest = ref.require_digest()
    with RegistryClient() as client:
        tags = client.list_tags(ref)
    assert f"{digest.algorithm}-{digest.hex}.sig" in tags
    assert f"{digest.algorithm}-{digest.hex}.att" in tags
    assert "Verified" in result.output
    # Each job publishes its outputs as a dotenv report (variables for the later jobs).
    artifacts = repo / ".gitlab-ci-local" / "artifacts"
    published = {
        job: (artifacts / f"mltoolkit-{job}" / "mltoolkit.env").read_text().splitlines()
        for job in ("sign", "sbom", "verify")
    }
    assert f"MLTOOLKIT_REF={image}" in published["sign"]
    assert f"MLTOOLKIT_DIGEST={digest}" in published["sbom"]
    assert "MLTOOLKIT_SBOM=gl-sbom-mltoolkit.cdx.json" in published["sbom"]
    assert any(line.startswith("MLTOOLKIT_ATTESTATION=legacy: ") for line in published["sbom"])
    assert "MLTOOLKIT_VERIFIED=true" in published["verify"]
    expanded = yaml.safe_load((repo / ".gitlab-ci-local" / "expanded-gitlab-ci.yml").read_text())
    for job in ("sign", "sbom", "verify"):
        assert expanded[f"mltoolkit-{job}"]["artifacts"]["reports"]["dotenv"] == "mltoolkit.env"
