"""The build action run for real by act (host mode) against the real engine and registry."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_harness import (
    FIXTURES,
    GITHUB_ORIGIN,
    MANIFEST_TYPES,
    PAYLOAD,
    RunResult,
    marker_executed,
    registry_digest,
    remove_local_tags,
    run,
    tool,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class ActRun:
    result: RunResult
    out: Path
    repository: str


def run_act(
    repo: Path,
    workflow: str,
    env: Mapping[str, str],
    cache: Path,
    local_repositories: Mapping[str, Path] | None = None,
) -> RunResult:
    argv = [
        tool("act"),
        "push",
        "-P",
        "ubuntu-latest=-self-hosted",
        "-W",
        workflow,
        "--no-cache-server",
        "--action-cache-path",
        str(cache),
    ]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    for reference, directory in (local_repositories or {}).items():
        argv += ["--local-repository", f"{reference}={directory}"]
    return run(argv, cwd=repo, env={}, timeout=240)


@pytest.fixture(scope="module")
def act_build(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    busybox_image: str,
    setup_cache: Path,
    docker_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ActRun]:
    repository = f"e2e/act-{uuid.uuid4().hex[:8]}"
    out = tmp_path_factory.mktemp("act-out")
    repo = project_repo(
        {".github/workflows/build.yml": FIXTURES / "github" / "build.yml", "app": FIXTURES / "app"},
        GITHUB_ORIGIN,
    )
    env = {
        **services,
        "E2E_IMAGE": f"{registry}/{repository}",
        "E2E_TAG": "v1",
        "E2E_BASE": busybox_image,
        "E2E_NOTE": PAYLOAD,
        "E2E_SETUP_CACHE": str(setup_cache),
        "E2E_OUT": str(out),
    }
    result = run_act(repo, ".github/workflows/build.yml", env, tmp_path_factory.mktemp("act"))
    yield ActRun(result, out, repository)
    remove_local_tags(docker_client, env["E2E_IMAGE"], ["v1", "latest"])


def test_build_action_outputs_the_registry_digest(act_build: ActRun, registry: str) -> None:
    assert act_build.result.returncode == 0, "the workflow failed (its log is above)"
    digest = (act_build.out / "digest").read_text()
    assert digest.startswith("sha256:")
    assert digest == registry_digest(registry, act_build.repository, "v1")
    assert digest == registry_digest(registry, act_build.repository, "latest")
    image = f"{registry}/{act_build.repository}"
    assert (act_build.out / "image").read_text() == image
    assert (act_build.out / "ref").read_text() == f"{image}@{digest}"


def _config_labels(registry: str, repository: str, digest: str) -> dict[str, str]:
    base = f"http://{registry}/v2/{repository}"
    manifest = requests.get(
        f"{base}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}, timeout=30
    ).json()
    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=30).json()
    labels: dict[str, str] = config["config"]["Labels"] or {}
    return labels


def test_hostile_input_reaches_the_tool_as_data_and_never_runs(
    act_build: ActRun, registry: str
) -> None:
    assert not marker_executed(act_build.result.output), "an input value was executed by a shell"
    assert act_build.result.returncode == 0, "the workflow failed (its log is above)"
    # The label arrived byte for byte, so the value went through and was not mangled by a shell.
    digest = (act_build.out / "digest").read_text()
    labels = _config_labels(registry, act_build.repository, digest)
    assert labels["org.example.note"] == PAYLOAD
    # The run's GitHub context reached the tool too (through the environment, like the inputs).
    assert labels["org.opencontainers.image.source"] == GITHUB_ORIGIN.removesuffix(".git")
    # The same payload as a tag is refused as bad input (continue-on-error step).
    assert (act_build.out / "hostile-outcome").read_text() == "failure"


def test_injection_detector_sees_an_interpolated_payload(
    project_repo: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # Control: the same payload interpolated into a script does run, and the detector says so.
    repo = project_repo(
        {".github/workflows/control.yml": FIXTURES / "github" / "control-interpolated.yml"},
        GITHUB_ORIGIN,
    )
    result = run_act(repo, ".github/workflows/control.yml", {"E2E_NOTE": PAYLOAD}, tmp_path)
    assert marker_executed(result.output), "the control did not show the executed marker"


def test_build_action_used_from_another_repository(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    busybox_image: str,
    setup_cache: Path,
    docker_client: Any,
    tmp_path: Path,
) -> None:
    toolkit = project_repo({})
    consumer = project_repo(
        {
            ".github/workflows/build.yml": FIXTURES / "github" / "consumer.yml",
            "app": FIXTURES / "app",
        },
        GITHUB_ORIGIN,
        project=False,
    )
    assert not (consumer / "actions").exists()
    repository = f"e2e/consumer-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **services,
        "E2E_IMAGE": f"{registry}/{repository}",
        "E2E_BASE": busybox_image,
        "E2E_SETUP_CACHE": str(setup_cache),
        "E2E_OUT": str(out),
    }
    pinned = {f"e2e-owner/mltoolkit@{'1' * 40}": toolkit}
    try:
        result = run_act(consumer, ".github/workflows/build.yml", env, tmp_path / "act", pinned)
    finally:
        remove_local_tags(docker_client, env["E2E_IMAGE"], ["consumer"])
    assert result.returncode == 0, "the workflow failed (its log is above)"
    assert (out / "digest").read_text() == registry_digest(registry, repository, "consumer")
