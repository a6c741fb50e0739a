"""Helpers, not tests: the card-fraud example as a throwaway project for the e2e runners (its
files, fresh keys, a policy aimed at the local registry) and the CLI run as a release manager does.

Shared by test_example_github.py (act) and test_example_gitlab.py (gitlab-ci-local).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from e2e_harness import ROOT

EXAMPLE = ROOT / "examples" / "card-fraud"
EXAMPLE_FILES = ("generate_data.py", "suite.yaml", "train.py", "serve", "mltoolkit.yaml")
MODEL = "card-fraud"
PASSWORD = "e2e-password"
SIGNERS = ("ci", "release-manager-1", "release-manager-2")


@dataclass(frozen=True)
class ExampleWorld:
    """Where one example run keeps its keys, MLflow store and audit log."""

    state: Path
    registry: str
    repository: str

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.state / 'mlflow.db'}"

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.jsonl"

    def key(self, name: str) -> Path:
        return self.state / "keys" / f"{name}.key"

    @property
    def image(self) -> str:
        return f"{self.registry}/{self.repository}/model"


def make_world(state: Path, registry: str, repository: str) -> ExampleWorld:
    """Fresh keys for the pipeline and two release managers under ``state``."""
    from mltoolkit.signing.keys import generate_key_pair

    (state / "keys").mkdir(parents=True)
    for name in SIGNERS:
        generate_key_pair(state / "keys" / name, PASSWORD.encode())
    return ExampleWorld(state, registry, repository)


def example_files(world: ExampleWorld) -> dict[str, Path | str]:
    """The example's files for ``project_repo``: the policy aimed at this world's registry."""
    files: dict[str, Path | str] = {name: EXAMPLE / name for name in EXAMPLE_FILES}
    policy = (EXAMPLE / "mltoolkit.yaml").read_text()
    policy = policy.replace("127.0.0.1:5555/card-fraud/", f"{world.registry}/{world.repository}/")
    assert world.repository in policy, "the example policy no longer names 127.0.0.1:5555"
    files["mltoolkit.yaml"] = policy
    for name in SIGNERS:
        files[f"keys/{name}.pub"] = (world.state / "keys" / f"{name}.pub").read_text()
    return files


def mltoolkit(world: ExampleWorld, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the pipeline's MLflow store, audit log and policy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "CI_")) and k != "CI"
    }
    env.update(
        MLFLOW_TRACKING_URI=world.tracking_uri,
        MLTOOLKIT_AUDIT_LOG=str(world.audit_log),
        MLTOOLKIT_POLICY=str(repo / "mltoolkit.yaml"),
        MLTOOLKIT_KEY_PASSWORD=PASSWORD,
        MLTOOLKIT_PLATFORM="local",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mltoolkit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(done.stdout, done.stderr)
    return done


def approve_twice(world: ExampleWorld, repo: Path, version: str) -> None:
    """Both release managers approve ``version`` for production."""
    for name in ("release-manager-1", "release-manager-2"):
        done = mltoolkit(
            world,
            repo,
            "approve",
            MODEL,
            "--version",
            version,
            "--env",
            "production",
            "--key",
            str(world.key(name)),
            "--comment",
            "e2e",
        )
        assert done.returncode == 0, done.stderr


def production_version(world: ExampleWorld, repo: Path) -> str:
    """The version the audit trail says runs in production (the audit must verify)."""
    done = mltoolkit(world, repo, "--json", "audit", MODEL, "--env", "production")
    assert done.returncode == 0, f"audit failed: {done.stderr}"
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and not doc["problems"], doc["problems"]
    return str(doc["environments"]["production"]["version"])


def latest_version(world: ExampleWorld, repo: Path) -> str:
    """The newest registered version of the model."""
    done = mltoolkit(world, repo, "--json", "status", MODEL)
    assert done.returncode == 0, done.stderr
    versions = json.loads(done.stdout)["versions"]
    assert versions, "no model version was registered"
    return str(max(int(v["version"]) for v in versions))
