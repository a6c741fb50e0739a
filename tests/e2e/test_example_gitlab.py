"""The card-fraud example's .gitlab-ci.yml, including gitlab-templates/pipeline.yml, run for real
by gitlab-ci-local (shell executor) against the local engine, registry, trivy DB mirror and
MLflow (SQLite).

The pipeline runs with the manual production job started (`--manual`): it is refused for want of
approvals. Two release managers approve; the production job alone is run again, as a maintainer
would start it on GitLab, and promotes; the audit trail then verifies and names production.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_harness import RunResult, run, tool
from support.trivydb.fixtures import trivy_db_repository, trivydb_writer  # noqa: F401
from test_example_project import (
    EXAMPLE,
    PASSWORD,
    ExampleWorld,
    approve_twice,
    example_files,
    latest_version,
    make_world,
    production_version,
)

pytestmark = pytest.mark.e2e

PRODUCTION_JOB = "mltoolkit-promote-production"


def consumer_pipeline() -> str:
    """The example's .gitlab-ci.yml with the template included from this repository.

    `include: project:` cannot be resolved offline: the same inputs go to `include: local:`,
    the toolkit is the repository itself, and the dind service (no containers in shell mode)
    gives way to the local engine.
    """
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / ".gitlab-ci.yml").read_text())
    include = doc["include"][0]
    assert include["file"] == "gitlab-templates/pipeline.yml"
    inputs = dict(include["inputs"])
    for name in ("toolkit-repository", "toolkit-sha"):
        inputs.pop(name)
    inputs["image"] = "$E2E_IMAGE"
    inputs["cache-dir"] = "$E2E_SETUP_CACHE"
    doc["include"] = [{"local": "gitlab-templates/pipeline.yml", "inputs": inputs}]
    doc.pop("mltoolkit-build")
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class GitLabProject:
    repo: Path
    world: ExampleWorld
    run: Callable[..., RunResult]


@pytest.fixture(scope="module")
def gitlab_project(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    trivy_db_repository: str,  # noqa: F811
    setup_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GitLabProject]:
    state = tmp_path_factory.mktemp("example-gitlab")
    world = make_world(state, registry, f"e2e-example/gl-{uuid.uuid4().hex[:8]}")
    repo = project_repo(example_files(world) | {".gitlab-ci.yml": consumer_pipeline()})
    variables = {
        **services,
        # A File-type variable on GitLab: the job sees the path of a file holding the key.
        "MLTOOLKIT_CI_KEY": str(world.key("ci")),
        "MLTOOLKIT_KEY_PASSWORD": PASSWORD,
        "MLFLOW_TRACKING_URI": world.tracking_uri,
        "MLTOOLKIT_AUDIT_LOG": str(world.audit_log),
        "TRIVY_DB_REPOSITORY": trivy_db_repository,
        "E2E_IMAGE": world.image,
        "E2E_SETUP_CACHE": str(setup_cache),
    }

    def run_pipeline(*jobs: str) -> RunResult:
        argv = [
            tool("gitlab-ci-local"),
            "--force-shell-executor",
            "--shell-isolation",
            "--manual",
            PRODUCTION_JOB,
        ]
        for name, value in variables.items():
            argv += ["--variable", f"{name}={value}"]
        return run([*argv, *jobs], cwd=repo, env={}, timeout=1800)

    yield GitLabProject(repo, world, run_pipeline)


def test_the_example_pipeline_reaches_production_after_two_approvals(
    gitlab_project: GitLabProject,
) -> None:
    first = gitlab_project.run()
    assert "Promoted card-fraud version 1 to staging" in first.output, "staging was not reached"
    assert first.returncode != 0, "production was promoted without approvals"
    assert "2 approvals short" in first.output
    version = latest_version(gitlab_project.world, gitlab_project.repo)

    approve_twice(gitlab_project.world, gitlab_project.repo, version)

    # The manual job alone, with the earlier jobs' dotenv reports (as GitLab keeps them).
    second = gitlab_project.run(PRODUCTION_JOB)
    assert second.returncode == 0, "the production job failed (its log is above)"
    assert f"Promoted card-fraud version {version} to production" in second.output
    assert production_version(gitlab_project.world, gitlab_project.repo) == version
