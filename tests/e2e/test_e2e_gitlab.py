"""The GitLab build template run for real by gitlab-ci-local (shell executor), included twice:
once from this project's workspace, once fetching the toolkit at a commit SHA."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_harness import (
    FIXTURES,
    MANIFEST_TYPES,
    PAYLOAD,
    marker_executed,
    registry_digest,
    remove_local_tags,
    run,
    tool,
)

pytestmark = pytest.mark.e2e


def _pipeline(
    registry: str,
    repos: Mapping[str, str],
    base: str,
    cache: Path,
    toolkits: Mapping[str, Mapping[str, str]],
) -> str:
    includes = []
    consumers: dict[str, object] = {}
    for prefix, repository in repos.items():
        inputs = {
            "job-prefix": prefix,
            "image": f"{registry}/{repository}",
            "tags": "v1 latest",
            "build-args": f"BASE={base}\nGREETING=hello from {prefix}\n",
            "labels": f"org.example.note={PAYLOAD}\n",
            "context": "app",
            "push": True,
            "cache-dir": str(cache),
            **toolkits.get(prefix, {}),
        }
        includes.append({"local": "gitlab-templates/build.yml", "inputs": inputs})
        # A later job reads the dotenv report, as a user's deploy job would.
        consumers[f"{prefix}-consumer"] = {
            "stage": "verify",
            "needs": [f"{prefix}-build"],
            "script": [
                f'printf "%s" "$MLTOOLKIT_DIGEST" >"$E2E_OUT/{prefix}-digest"',
                f'printf "%s" "$MLTOOLKIT_REF" >"$E2E_OUT/{prefix}-ref"',
            ],
        }
    return yaml.safe_dump({"stages": ["build", "verify"], "include": includes, **consumers})


def _label(registry: str, repository: str, digest: str, key: str) -> str:
    base = f"http://{registry}/v2/{repository}"
    manifest = requests.get(
        f"{base}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}, timeout=30
    ).json()
    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=30).json()
    value: str = config["config"]["Labels"][key]
    return value


def test_template_included_twice_hands_the_registry_digest_to_later_jobs(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    busybox_image: str,
    setup_cache: Path,
    docker_client: Any,
    tmp_path: Path,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    repos = {"first": f"e2e/gl-{run_id}-a", "second": f"e2e/gl-{run_id}-b"}
    out = tmp_path / "out"
    out.mkdir()
    # The second include installs the toolkit the way another project's pipeline does: fetched
    # from its own repository at a full commit SHA (here a local one, over file://).
    toolkit = project_repo({})
    subprocess.run(
        ["git", "config", "uploadpack.allowAnySHA1InWant", "true"], cwd=toolkit, check=True
    )
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=toolkit, check=True, capture_output=True, text=True
    ).stdout.strip()
    fetched = {"second": {"toolkit-repository": toolkit.as_uri(), "toolkit-sha": sha}}
    repo = project_repo(
        {
            ".gitlab-ci.yml": _pipeline(registry, repos, busybox_image, setup_cache, fetched),
            "app": FIXTURES / "app",
        }
    )
    gcl = tool("gitlab-ci-local")
    argv = [gcl, "--force-shell-executor", "--shell-isolation", "--variable", f"E2E_OUT={out}"]
    for key, value in services.items():
        argv += ["--variable", f"{key}={value}"]
    try:
        result = run(argv, cwd=repo, env={}, timeout=240)
    finally:
        for repository in repos.values():
            remove_local_tags(docker_client, f"{registry}/{repository}", ["v1", "latest"])

    assert not marker_executed(result.output), "an input value was executed by a shell"
    assert result.returncode == 0, "the pipeline failed (its log is above)"
    digests = set()
    for prefix, repository in repos.items():
        digest = (out / f"{prefix}-digest").read_text()
        assert digest.startswith("sha256:")
        assert digest == registry_digest(registry, repository, "v1")
        assert digest == registry_digest(registry, repository, "latest")
        assert (out / f"{prefix}-ref").read_text() == f"{registry}/{repository}@{digest}"
        assert _label(registry, repository, digest, "org.example.note") == PAYLOAD
        digests.add(digest)
    # Different GREETING build args: two independent builds, not one job's output read twice.
    assert len(digests) == 2


@pytest.mark.parametrize(
    ("inputs", "refused"),
    [
        ({"job-prefix": "Bad Prefix", "image": "r/app"}, "`job-prefix` input"),
        ({"image": "--push"}, "`image` input"),
        ({"image": "r/app", "toolkit-sha": "main"}, "`toolkit-sha` input"),
    ],
)
def test_template_refuses_bad_inputs_before_any_job_runs(
    project_repo: Callable[..., Path], inputs: dict[str, str], refused: str
) -> None:
    pipeline = {"include": [{"local": "gitlab-templates/build.yml", "inputs": inputs}]}
    repo = project_repo({".gitlab-ci.yml": yaml.safe_dump(pipeline)})
    result = run([tool("gitlab-ci-local")], cwd=repo, env={}, timeout=60)
    assert result.returncode != 0
    assert refused in result.output and "does not match required regex" in result.output
    assert "starting shell" not in result.output
