"""Static checks over the pipeline definitions and the example's CI files: linters, schemas,
pins, and no input interpolated into a script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_harness import ROOT, tool

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "card-fraud"
REUSABLE = ROOT / ".github" / "workflows" / "ml-delivery.yml"
CONSUMER = EXAMPLE / ".github" / "workflows" / "delivery.yml"
PIPELINE = ROOT / "gitlab-templates" / "pipeline.yml"
GITLAB_CONSUMER = EXAMPLE / ".gitlab-ci.yml"


def _check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_zizmor_pedantic_finds_nothing_in_the_example_workflow() -> None:
    done = _check(
        [tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(CONSUMER)]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes_both_workflows() -> None:
    done = _check([tool("actionlint"), str(REUSABLE), str(CONSUMER)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_files_match_the_published_schemas() -> None:
    for schema, path in (
        ("vendor.github-workflows", CONSUMER),
        ("vendor.gitlab-ci", GITLAB_CONSUMER),
    ):
        done = _check([tool("check-jsonschema"), "--builtin-schema", schema, str(path)])
        assert done.returncode == 0, done.stdout + done.stderr


def _jobs(path: Path) -> dict[str, Any]:
    jobs: dict[str, Any] = yaml.safe_load(path.read_text())["jobs"]
    return jobs


def test_the_reusable_workflow_keeps_expressions_out_of_scripts() -> None:
    for name, job in _jobs(REUSABLE).items():
        for step in job.get("steps", []):
            script = step.get("run")
            if isinstance(script, str):
                assert "${{" not in script, f"{name}: an expression inside run: (pass it via env:)"
                assert str(step.get("shell", "")).startswith("bash -eEuo pipefail")


def test_the_reusable_workflow_grants_least_privilege() -> None:
    doc = yaml.safe_load(REUSABLE.read_text())
    assert doc["permissions"] == {}
    assert True in doc and "workflow_call" in doc[True], "not a reusable workflow"
    for name, job in doc["jobs"].items():
        allowed = {"contents", "packages"} | ({"id-token"} if name == "deliver-keyless" else set())
        assert set(job["permissions"]) <= allowed, name
        assert "${{ inputs.model-name }}" in job["concurrency"]["group"], name
    promotions = {name: job for name, job in doc["jobs"].items() if name.startswith("promote-")}
    assert set(promotions) == {"promote-staging", "promote-production"}
    for name, job in promotions.items():
        assert "environment" in job, f"{name}: a promotion outside an environment"
        assert job["concurrency"]["cancel-in-progress"] is False


def test_the_example_pins_the_workflow_and_the_toolkit_to_one_sha() -> None:
    job = _jobs(CONSUMER)["delivery"]
    ref = job["uses"].rpartition("@")[2]
    assert re.fullmatch(r"[0-9a-f]{40}", ref)
    assert job["with"]["toolkit-ref"] == ref
    assert re.search(rf"@{ref}\s+#\s*v\d", CONSUMER.read_text())


def test_the_pipeline_template_has_protected_manual_promotions() -> None:
    jobs = list(yaml.safe_load_all(PIPELINE.read_text()))[1]
    staging = jobs["$[[ inputs.job-prefix ]]-promote-staging"]
    production = jobs["$[[ inputs.job-prefix ]]-promote-production"]
    assert production["when"] == "manual"
    for job in (staging, production):
        assert "environment" in job and "resource_group" in job
    build = jobs["$[[ inputs.job-prefix ]]-build"]
    assert build["artifacts"]["reports"]["dotenv"] == "mltoolkit.env"
    evidence = jobs["$[[ inputs.job-prefix ]]-evidence"]
    assert "container_scanning" in evidence["artifacts"]["reports"]


def test_the_example_includes_the_pipeline_template() -> None:
    doc = yaml.safe_load(GITLAB_CONSUMER.read_text())
    include = doc["include"][0]
    assert include["file"] == "gitlab-templates/pipeline.yml"
    assert re.fullmatch(r"[0-9a-f]{40}", include["ref"])
    assert include["inputs"]["toolkit-sha"] == include["ref"]
