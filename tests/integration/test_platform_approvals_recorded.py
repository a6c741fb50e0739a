"""`mltoolkit approve` in CI records the platform's own approval in the signed approval.

Real registry, real MLflow (SQLite), the real CLI in a subprocess. The GitHub and GitLab APIs
cannot run here: FAKE_GITHUB and FAKE_GITLAB are HTTP servers on 127.0.0.1 started by the test,
answering the two endpoints the adapters read with canned JSON.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.images import push_image

from mltoolkit.evidence.collect import collect_evidence
from mltoolkit.oci.reference import ImageRef
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.policy.loader import load_policy
from mltoolkit.signing.keys import generate_key_pair

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

PASSWORD = "pw"
TOKEN = "ghs_fake0platform0token0secret"
GITHUB_ROUTE = "/repos/acme/fraud/actions/runs/42/approvals"
GITLAB_LIST = "/api/v4/projects/7/deployments"


@dataclass
class World:
    base: Path
    policy: Path
    key: Path
    public: Path
    tracking_uri: str
    repository: str


@dataclass
class FakeAPI:
    url: str
    routes: dict[str, Any]
    seen: list[dict[str, str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, registry: str) -> World:
    base = tmp_path_factory.mktemp("platform-approvals")
    generate_key_pair(base / "alice", PASSWORD.encode())
    repository = f"{registry}/platform-approvals-{uuid.uuid4().hex[:8]}/staging"
    policy = base / "mltoolkit.yaml"
    policy.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            trust:
              keys:
                alice: {{path: alice.pub}}
              evidence:
                approval: [alice]
            environments:
              production:
                from: null
                repository: {repository}
                approvals:
                  required: 1
                  from: [alice]
            """
        )
    )
    return World(
        base,
        policy,
        base / "alice.key",
        base / "alice.pub",
        f"sqlite:///{base / 'mlflow.db'}",
        repository,
    )


@pytest.fixture
def fake_platform_api() -> Iterator[FakeAPI]:
    """FAKE_GITHUB / FAKE_GITLAB: canned answers per path, every request's headers recorded."""
    api = FakeAPI("", {}, [])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.seen.append(dict(self.headers))
            body = api.routes.get(urlsplit(self.path).path)
            data = json.dumps(body if body is not None else {"message": "Not Found"}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def new_version(world: World, model: str, image: ImageRef) -> int:
    """A model version bound to ``image`` as `register` binds it."""
    from mlflow import MlflowClient

    mc = MlflowClient(tracking_uri=world.tracking_uri, registry_uri=world.tracking_uri)
    try:
        mc.get_registered_model(model)
    except Exception:
        mc.create_registered_model(model)
    found = mc.get_experiment_by_name("platform-approvals")
    experiment = (
        found.experiment_id
        if found is not None
        else mc.create_experiment("platform-approvals", str(world.base / "runs"))
    )
    run = mc.create_run(experiment)
    mc.set_terminated(run.info.run_id)
    tags = {"mltoolkit.image": str(image), "mltoolkit.image.digest": str(image.digest)}
    source = f"runs:/{run.info.run_id}/model"
    return int(mc.create_model_version(model, source, run_id=run.info.run_id, tags=tags).version)


def base_env(world: World, tmp_path: Path) -> dict[str, str]:
    values = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "MLTOOLKIT_PLATFORM")) and k != "CI"
    }
    return values | {
        "MLFLOW_TRACKING_URI": world.tracking_uri,
        "MLTOOLKIT_POLICY": str(world.policy),
        "MLTOOLKIT_KEY_PASSWORD": PASSWORD,
        "MLTOOLKIT_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def github_env(world: World, tmp_path: Path, api_url: str) -> dict[str, str]:
    return base_env(world, tmp_path) | {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "acme/fraud",
        "GITHUB_RUN_ID": "42",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def gitlab_env(world: World, tmp_path: Path, api_url: str) -> dict[str, str]:
    return base_env(world, tmp_path) | {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": f"{api_url}/api/v4",
        "CI_PROJECT_ID": "7",
        "CI_JOB_ID": "1001",
        "CI_JOB_TOKEN": TOKEN,
        "MLTOOLKIT_DOTENV": str(tmp_path / "mltoolkit.env"),
        "MLTOOLKIT_SUMMARY": str(tmp_path / "summary.md"),
    }


def approve(
    world: World, env: dict[str, str], model: str, version: int
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mltoolkit",
            "--json",
            "approve",
            model,
            "--version",
            str(version),
            "--env",
            "production",
            "--key",
            str(world.key),
            "--comment",
            "ship it",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def signed_platform_approval(world: World, image: ImageRef) -> Any:
    """The ``platform_approval`` of the one approval that verifies with alice's key."""
    with RegistryClient() as client:
        report = collect_evidence(client, image, load_policy(world.policy).trust)
    # stored twice (cosign's .att and a bundle referrer), the same signed predicate in each
    found = report.of_type("approval")
    assert found and {e.signer for e in found} == {"alice"}
    (predicate,) = {json.dumps(e.predicate, sort_keys=True) for e in found}
    return json.loads(predicate)["platform_approval"]


def leaked(result: subprocess.CompletedProcess[str], tmp_path: Path) -> bool:
    files = "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    return TOKEN in result.stdout + result.stderr + files


def fresh(world: World, name: str) -> tuple[str, ImageRef, int]:
    with RegistryClient() as client:
        image = push_image(client, world.repository, tag=name)
    model = f"{name}-{uuid.uuid4().hex[:6]}"
    return model, image, new_version(world, model, image)


def test_github_environment_reviewers_are_signed_into_the_approval(
    world: World, fake_platform_api: FakeAPI, tmp_path: Path
) -> None:
    fake_platform_api.routes[GITHUB_ROUTE] = [
        {
            "state": "approved",
            "comment": "looked at the eval",
            "environments": [{"id": 3, "name": "production"}],
            "user": {"login": "octo-reviewer", "id": 4242},
        },
        {
            "state": "approved",
            "comment": "",
            "environments": [{"id": 2, "name": "staging"}],
            "user": {"login": "someone-else", "id": 7},
        },
    ]
    model, image, version = fresh(world, "gh")
    result = approve(world, github_env(world, tmp_path, fake_platform_api.url), model, version)
    assert result.returncode == 0, result.stderr
    assert fake_platform_api.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    recorded = signed_platform_approval(world, image)
    assert recorded["platform"] == "github"
    assert [(r["reviewer"], r["reviewer_id"], r["comment"]) for r in recorded["reviewers"]] == [
        ("octo-reviewer", 4242, "looked at the eval")
    ]
    assert json.loads(result.stdout)["approval"]["platform_approval"] == recorded
    assert not leaked(result, tmp_path)


def test_gitlab_deployment_approvals_are_signed_into_the_approval(
    world: World, fake_platform_api: FakeAPI, tmp_path: Path
) -> None:
    fake_platform_api.routes[GITLAB_LIST] = [
        {"id": 55, "status": "running", "deployable": {"id": 1001}},
    ]
    fake_platform_api.routes[f"{GITLAB_LIST}/55"] = {
        "id": 55,
        "deployable": {"id": 1001},
        "approvals": [
            {
                "user": {"username": "gl-approver", "id": 99},
                "status": "approved",
                "comment": "change window ok",
                "created_at": "2026-11-27T02:00:00.000Z",
            }
        ],
    }
    model, image, version = fresh(world, "gl")
    result = approve(world, gitlab_env(world, tmp_path, fake_platform_api.url), model, version)
    assert result.returncode == 0, result.stderr
    assert all(h["JOB-TOKEN"] == TOKEN for h in fake_platform_api.seen)
    recorded = signed_platform_approval(world, image)
    assert recorded["platform"] == "gitlab"
    assert recorded["reviewers"] == [
        {
            "environment": "production",
            "reviewer": "gl-approver",
            "reviewer_id": 99,
            "comment": "change window ok",
            "time": "2026-11-27T02:00:00.000Z",
        }
    ]
    assert not leaked(result, tmp_path)


def test_api_down_still_approves_recording_the_error(world: World, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the block ends
    model, image, version = fresh(world, "down")
    result = approve(world, github_env(world, tmp_path, down), model, version)
    assert result.returncode == 0, result.stderr
    assert "::warning::the github approvals of this job could not be read" in result.stderr
    recorded = signed_platform_approval(world, image)
    assert recorded["platform"] == "github" and "cannot reach" in recorded["error"]
    assert "reviewers" not in recorded
    assert not leaked(result, tmp_path)
