"""The card-fraud example's GitHub workflow, calling the reusable ml-delivery workflow, run for
real by act (host mode) against the local engine, registry, trivy DB mirror and MLflow (SQLite).

Run 1 (a push) goes up to staging and is refused at production (no approvals yet); two release
managers approve; run 2 (workflow_dispatch with `version`, what a release manager starts after
approving) skips the build and promotes that version to production; the audit trail then
verifies and names production.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_harness import GITHUB_ORIGIN, ROOT, RunResult, run, tool
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

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
# act cannot download actions here: a stand-in for actions/checkout (the workspace already holds
# the repository's files; the toolkit is in the same repository in this test).
CHECKOUT_STAND_IN = """\
name: checkout stand-in
inputs:
  repository: {required: false, default: ""}
  ref: {required: false, default: ""}
  path: {required: false, default: ""}
  persist-credentials: {required: false, default: "false"}
runs:
  using: composite
  steps:
    - run: echo "actions/checkout stand-in (e2e)"
      shell: bash
"""


def consumer_workflow() -> str:
    """The example's delivery.yml, calling this repository's reusable workflow in place.

    Edited as text: a YAML round trip would turn the `on:` key into `true:`.
    """
    text = (EXAMPLE / ".github" / "workflows" / "delivery.yml").read_text()
    for pattern, replacement in (
        (
            r"uses: OWNER/mltoolkit/(\.github/workflows/ml-delivery\.yml)@[0-9a-f]{40}.*",
            r"uses: ./\1",
        ),
        (r"toolkit-repository: OWNER/mltoolkit", 'toolkit-repository: ""'),
        (r"toolkit-ref: [0-9a-f]{40}", 'toolkit-path: "."'),
    ):
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"the example workflow no longer has {pattern!r}"
    return text


@dataclass(frozen=True)
class ActProject:
    repo: Path
    world: ExampleWorld
    run: Callable[..., RunResult]


@pytest.fixture(scope="module")
def act_project(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    trivy_db_repository: str,  # noqa: F811
    setup_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ActProject]:
    state = tmp_path_factory.mktemp("example-github")
    world = make_world(state, registry, f"e2e-example/gh-{uuid.uuid4().hex[:8]}")
    files = example_files(world) | {
        ".github/workflows/ml-delivery.yml": ROOT / ".github" / "workflows" / "ml-delivery.yml",
        ".github/workflows/delivery.yml": consumer_workflow(),
    }
    repo = project_repo(files, GITHUB_ORIGIN)
    stand_in = state / "checkout"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(CHECKOUT_STAND_IN)
    key = world.key("ci").read_text().replace("\n", "\\n")
    secrets = state / "secrets.env"
    secrets.write_text(f'MLTOOLKIT_CI_KEY="{key}"\nMLTOOLKIT_CI_KEY_PASSWORD={PASSWORD}\n')
    variables = {
        "MLFLOW_TRACKING_URI": world.tracking_uri,
        "IMAGE_REPOSITORY": world.image,
        "MLTOOLKIT_AUDIT_LOG": str(world.audit_log),
        "TRIVY_DB_REPOSITORY": trivy_db_repository,
        "MLTOOLKIT_CACHE_DIR": str(setup_cache),
    }
    var_file = state / "vars.env"
    var_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))

    def run_act(event: str = "push", *inputs: str) -> RunResult:
        argv = [
            tool("act"),
            event,
            "-P",
            "ubuntu-latest=-self-hosted",
            "-W",
            ".github/workflows/delivery.yml",
            "--no-cache-server",
            "--action-cache-path",
            str(state / "act-cache"),
            "--local-repository",
            f"{CHECKOUT}={stand_in}",
            "--secret-file",
            str(secrets),
            "--var-file",
            str(var_file),
        ]
        for name, value in services.items():
            argv += ["--env", f"{name}={value}"]
        for item in inputs:
            argv += ["--input", item]
        return run(argv, cwd=repo, env={}, timeout=1800)

    yield ActProject(repo, world, run_act)


def test_the_example_workflow_reaches_production_after_two_approvals(
    act_project: ActProject,
) -> None:
    first = act_project.run()
    # Everything up to staging ran; production was refused for want of approvals.
    assert "Promoted card-fraud version 1 to staging" in first.output, "staging was not reached"
    assert first.returncode != 0, "production was promoted without approvals"
    assert "2 approvals short" in first.output
    version = latest_version(act_project.world, act_project.repo)

    approve_twice(act_project.world, act_project.repo, version)

    second = act_project.run("workflow_dispatch", f"version={version}")
    assert second.returncode == 0, "the second run failed (its log is above)"
    assert f"Promoted card-fraud version {version} to production" in second.output
    assert latest_version(act_project.world, act_project.repo) == version, "it built again"
    assert production_version(act_project.world, act_project.repo) == version
