"""`mltoolkit status` lists the approvals stored on each version's image, verified against the
policy's trust and counted per environment as `promote` counts them: real registry, real MLflow
(embedded SQLite and a server on PostgreSQL), real signed approvals made by `approve`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.images import push_image
from test_models_mlflow import mlflow_server, postgres_url
from test_promote import (
    World,
    cli,
    client,
    env,
    new_version,
    out,
    tracking_uri,
    with_evidence,
    world,
)

from mltoolkit.oci.registry import RegistryClient

# fixtures shared with the promote tests (the same policy, keys, registry and MLflow stores)
__all__ = ["client", "env", "mlflow_server", "postgres_url", "tracking_uri", "world"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def _approve(
    env: dict[str, str], world: World, model: str, version: int, to: str, who: str, note: str = ""
) -> None:
    given = cli(env, "approve", model, "--version", str(version), "--env", to,
                "--key", world.key(who), "--comment", note)  # fmt: skip
    assert given.returncode == 0, given.stderr


def _status(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = cli(env, "status", *args)
    assert result.returncode == 0, result.stderr
    return out(result)


def test_status_lists_each_approval_counted_or_not_and_why(
    world: World, env: dict[str, str], client: RegistryClient, tmp_path: Path
) -> None:
    model = f"status-{uuid.uuid4().hex[:6]}"
    image = push_image(client, f"{world.registry}/status-approvals/{model}")
    with_evidence(client, world, image)  # built and signed by "ci"
    version = new_version(world, model, image)

    before = _status(env, model)
    assert before["approvals_checked"] == "verified against the policy's trust"
    assert before["versions"][0]["approvals"] == []

    _approve(env, world, model, version, "production", "alice", "card reviewed")
    _approve(env, world, model, version, "staging", "bob")
    _approve(env, world, model, version, "production", "mallory")  # not in the trust

    doc = _status(env, model, "--version", str(version))
    (entry,) = doc["versions"]
    assert entry["image_digest"] == str(image.digest)
    rows = entry["approvals"]
    verified = [r for r in rows if r["verified"]]
    by = {(r["approver"], r["environment"]): r for r in verified}
    assert set(by) == {("alice", "production"), ("bob", "staging")}
    alice = by["alice", "production"]
    assert alice["counted"] is True and alice["reason"] == "counted"
    assert alice["comment"] == "card reviewed"
    assert alice["time"].endswith("Z")
    bob = by["bob", "staging"]
    assert bob["counted"] is False and bob["reason"] == "staging needs no approval"
    assert by["alice", "production"]["sources"][0] == alice["source"]
    # mallory's approval (stored in both formats) does not verify: listed, never counted
    mallory = [r for r in rows if not r["verified"]]
    assert mallory and all(not r["counted"] and "approval" in r["reason"] for r in mallory)

    # --verify reuses the same verified evidence: the approvals do not change.
    again = _status(env, model, "--version", str(version), "--verify")
    assert again["versions"][0]["approvals"] == rows
    assert {e["type"] for e in again["versions"][0]["evidence_now"]} >= {"signature", "approval"}

    table = subprocess.run(
        [sys.executable, "-m", "mltoolkit", "status", model],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "APPROVALS" in table.stdout and f"1/{len(rows)} counted" in table.stdout
    assert f"approvals of version {version}:" in table.stdout
    assert '"card reviewed" -> counted' in table.stdout
    assert "-> not counted: staging needs no approval" in table.stdout

    # without a policy there is no trust to verify approvals against: said, not guessed
    bare = dict(env)
    del bare["MLTOOLKIT_POLICY"]
    unchecked = subprocess.run(
        [sys.executable, "-m", "mltoolkit", "--json", "status", model],
        env=bare,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert unchecked.returncode == 0, unchecked.stderr
    nothing = out(unchecked)
    assert nothing["approvals_checked"].startswith("not checked: no policy")
    assert nothing["versions"][0]["approvals"] is None
