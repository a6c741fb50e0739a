"""Gated promotion end to end: real registry, real MLflow (an SQLite store, and `mlflow server`
on PostgreSQL), the real CLI.

Each test has its own model name and audit log; the policy, keys and MLflow store are shared by
the module. Failures are injected through MLTOOLKIT_TEST_FAULT (test-only hook, see
mltoolkit/promote/faults.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support.images import push_image
from test_models_mlflow import Backend, mlflow_server, postgres_url  # noqa: F401 - fixtures

from mltoolkit.evidence.types import SCAN_RESULT
from mltoolkit.oci.reference import ImageRef
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing.attest import attest_image
from mltoolkit.signing.keys import FileSigner, generate_key_pair, parse_private_key
from mltoolkit.signing.sign import sign_image
from mltoolkit.signing.target import pinned_target

pytestmark = [
    pytest.mark.integration,
    # MLflow's own dependencies (SQLAlchemy 2.1) warn about themselves when the tests set up
    # versions in-process; the code under test runs in subprocesses and silences them itself.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

PASSWORD = "pw"
CYCLONEDX = "https://cyclonedx.org/bom"
MOVED = "the alias was moved by another promotion"


@dataclass
class World:
    base: Path
    registry: str
    keys: Path
    policy: Path
    tracking_uri: str
    staging: str
    production: str

    def key(self, name: str) -> str:
        return str(self.keys / f"{name}.key")

    def signer(self, name: str) -> FileSigner:
        path = self.key(name)
        return FileSigner(path, parse_private_key(Path(path).read_bytes(), b"pw", where=path))


@pytest.fixture(scope="module", params=["sqlite", "server"])
def tracking_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite store, or `mlflow server` on PostgreSQL (the models tests' fixture)."""
    if request.param == "server":
        server: Backend = request.getfixturevalue("mlflow_server")
        assert server.tracking_uri is not None
        return server.tracking_uri
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, registry: str, tracking_uri: str) -> World:
    base = tmp_path_factory.mktemp("promote")
    keys = base / "keys"
    keys.mkdir()
    for name in ("ci", "alice", "bob", "promoter", "mallory"):
        generate_key_pair(keys / name, PASSWORD.encode())
    uid = uuid.uuid4().hex[:8]
    staging = f"{registry}/promote-{uid}/staging"
    production = f"{registry}/promote-{uid}/production"
    policy = base / "mltoolkit.yaml"
    policy.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            trust:
              keys:
                ci: {{path: keys/ci.pub}}
                alice: {{path: keys/alice.pub}}
                bob: {{path: keys/bob.pub}}
                promoter: {{path: keys/promoter.pub}}
              evidence:
                signature: [ci, alice]
                sbom: [ci]
                vulnerability-scan: [ci]
                approval: [alice, bob]
                promotion: [promoter]
            environments:
              staging:
                from: null
                repository: {staging}
                requires: [signature, sbom, vulnerability-scan]
                metrics:
                  auc: ">= 0.9"
              production:
                from: staging
                repository: {production}
                requires: [signature, sbom, vulnerability-scan]
                metrics:
                  auc: ">= 0.9"
                approvals:
                  required: 2
                  from: [alice, bob]
                  separation-of-duties: true
                  max-age: 7d
            """
        )
    )
    return World(base, registry, keys, policy, tracking_uri, staging, production)


@pytest.fixture
def env(world: World, tmp_path: Path) -> dict[str, str]:
    values = dict(os.environ)
    for key in list(values):
        if key.startswith(("GITHUB_", "GITLAB_", "CI_")) or key in ("CI", "MLTOOLKIT_TEST_FAULT"):
            del values[key]
    values.update(
        MLFLOW_TRACKING_URI=world.tracking_uri,
        MLTOOLKIT_POLICY=str(world.policy),
        MLTOOLKIT_KEY_PASSWORD=PASSWORD,
        MLTOOLKIT_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        MLTOOLKIT_PLATFORM="local",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return values


def cli(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mltoolkit", "--json", *args],
        env=env | extra,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def out(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


def mlflow_client(world: World) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=world.tracking_uri, registry_uri=world.tracking_uri)


def experiment(world: World) -> str:
    """An experiment whose artifacts stay in the test's directory."""
    mc = mlflow_client(world)
    found = mc.get_experiment_by_name("promote-tests")
    if found is not None:
        return str(found.experiment_id)
    return str(mc.create_experiment("promote-tests", artifact_location=str(world.base / "runs")))


def with_evidence(
    client: RegistryClient, world: World, image: ImageRef, signer: str = "ci"
) -> None:
    """Sign the image and attest an SBOM and a passed scan, as the pipeline does."""
    target = pinned_target(client, image, action="sign")
    sign_image(client, target, world.signer(signer), {}, "both")
    ci = world.signer("ci")
    attest_image(client, target, ci, CYCLONEDX, {"bomFormat": "CycloneDX"}, "legacy")
    scan = {"scanner": {"result": {"passed": True, "verdict": "pass"}}}
    attest_image(client, target, ci, SCAN_RESULT, scan, "legacy")


def new_version(
    world: World,
    model: str,
    image: ImageRef,
    *,
    auc: float = 0.95,
    tags: dict[str, str] | None = None,
) -> int:
    """A model version with the lineage tags `register` writes and a run holding its metric."""
    mc = mlflow_client(world)
    try:
        mc.get_registered_model(model)
    except Exception:
        mc.create_registered_model(model)
    run = mc.create_run(experiment(world))
    mc.log_metric(run.info.run_id, "auc", auc)
    mc.set_terminated(run.info.run_id)
    lineage = {"mltoolkit.image": str(image), "mltoolkit.image.digest": str(image.digest)}
    mv = mc.create_model_version(
        model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=lineage | (tags or {})
    )
    return int(mv.version)


def alias(world: World, model: str, name: str) -> int | None:
    aliases = mlflow_client(world).get_registered_model(model).aliases or {}
    return int(aliases[name]) if name in aliases else None


def manifest_exists(registry: str, repository: str, digest: str) -> bool:
    path = repository.removeprefix(f"{registry}/")
    response = requests.head(
        f"http://{registry}/v2/{path}/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    return response.status_code == 200


def promoting(world: World, model: str, version: int | str, environment: str) -> list[str]:
    """The CLI arguments of a real (signed) promotion."""
    key = world.key("promoter")
    return ["promote", model, "--version", str(version), "--to", environment, "--key", key]


def gate(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in doc["gates"] if g["gate"] == name)


def test_full_path_build_register_promote_approve_audit(
    world: World, env: dict[str, str], client: RegistryClient, busybox_image: str, tmp_path: Path
) -> None:
    from mltoolkit.models.signature import model_digest

    model = f"fraud-{uuid.uuid4().hex[:6]}"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.txt").write_text("w = 0.42\n")
    (model_dir / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    digest = model_digest(model_dir)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\nLABEL dev.mltoolkit.model.digest={digest}\n"
        'CMD ["sh", "-c", "echo serving"]\n'
    )
    repo = f"{world.registry}/promote-build/{model}"
    built = cli(env, "build", "--context", str(context), "--image", repo, "--push")
    assert built.returncode == 0, built.stderr
    image = ImageRef.parse(out(built)["ref"])
    assert image.digest is not None
    with_evidence(client, world, image)

    mc = mlflow_client(world)
    run = mc.create_run(experiment(world))
    mc.log_artifacts(run.info.run_id, str(model_dir), "model")
    mc.log_metric(run.info.run_id, "auc", 0.94)
    mc.set_terminated(run.info.run_id)
    run_id = run.info.run_id
    registered = cli(env, "register", "--name", model, "--run-id", run_id, "--image", str(image))
    assert registered.returncode == 0, registered.stderr
    version = str(out(registered)["version"])

    staged = cli(env, *promoting(world, model, version, "staging"))
    assert staged.returncode == 0, staged.stderr
    assert out(staged)["outcome"]["status"] == "promoted"
    assert manifest_exists(world.registry, world.staging, str(image.digest))

    early = cli(env, "promote", model, "--version", version, "--to", "production", "--dry-run")
    assert early.returncode == 1
    assert gate(out(early), "approvals")["why"].startswith("2 approvals short")

    for who, note in (("alice", "model card reviewed"), ("bob", "risk sign-off")):
        given = cli(env, "approve", model, "--version", version, "--env", "production",
                    "--key", world.key(who), "--comment", note)  # fmt: skip
        assert given.returncode == 0, given.stderr
        assert out(given)["approver_name"] == who

    page = tmp_path / "release.html"
    reported = cli(env, "report", model, "--version", version, "--html", str(page))
    assert reported.returncode == 0, reported.stderr
    assert out(reported)["environment"] == "production"
    text = page.read_text()
    assert "All gates for production pass" in text
    assert "model card reviewed" in text and "risk sign-off" in text
    assert str(image.digest) in text
    assert "<script" not in text and 'src="http' not in text and 'href="http' not in text

    dry = cli(env, "promote", model, "--version", version, "--to", "production", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert alias(world, model, "production") is None

    done = cli(env, *promoting(world, model, version, "production"))
    assert done.returncode == 0, done.stderr
    assert alias(world, model, "production") == int(version)
    assert manifest_exists(world.registry, world.production, str(image.digest))
    tags = mlflow_client(world).get_model_version(model, version).tags
    assert json.loads(tags["mltoolkit.promotion.production"])["audit_seq"] == 2

    # the promotion record is signed evidence on the production copy of the image
    record = cli(env, "verify-attestation", f"{world.production}@{image.digest}",
                 "--type", "https://mltoolkit.dev/attestation/promotion/v1",
                 "--key", str(world.keys / "promoter.pub"))  # fmt: skip
    assert record.returncode == 0, record.stderr

    told = cli(env, "audit", model, "--env", "production")
    assert told.returncode == 0, told.stdout + told.stderr
    story = out(told)["environments"]["production"]
    assert story["version"] == int(version)
    assert sorted(a["approver"] for a in story["approvals"]) == ["alice", "bob"]
    assert {e["type"] for e in story["evidence"]} >= {"signature", "sbom", "vulnerability-scan"}
    before = cli(env, "audit", model, "--at", "2000-01-01T00:00:00Z")
    assert out(before)["environments"]["staging"] is None


def test_gate_failures_each_exit_1_naming_why(
    world: World, env: dict[str, str], client: RegistryClient
) -> None:
    model = f"gates-{uuid.uuid4().hex[:6]}"
    # no evidence at all, and MLflow tags forged to claim a passed scan
    bare = push_image(client, f"{world.registry}/promote-gates/{model}")
    forged = {"mltoolkit.scan.passed": "true", "mltoolkit.evidence.types": "vulnerability-scan"}
    v1 = new_version(world, model, bare, tags=forged)
    result = cli(env, "promote", model, "--version", str(v1), "--to", "staging", "--dry-run")
    assert result.returncode == 1
    doc = out(result)
    scan = gate(doc, "vulnerability-scan")
    assert scan["result"] == "fail"
    assert "tags are not evidence" in scan["why"]
    assert "gates failed: signature, sbom, vulnerability-scan" in result.stderr

    # evidence signed by a key the policy does not trust for it
    untrusted = push_image(client, f"{world.registry}/promote-gates/{model}")
    target = pinned_target(client, untrusted, action="sign")
    attest_image(client, target, world.signer("mallory"), CYCLONEDX, {}, "legacy")
    with_evidence_but = new_version(world, model, untrusted, auc=0.5)
    result = cli(env, "promote", model, "--version", str(with_evidence_but), "--to", "staging",
                 "--dry-run")  # fmt: skip
    doc = out(result)
    assert result.returncode == 1
    assert "does not verify" in gate(doc, "sbom")["why"]
    assert gate(doc, "metric auc")["why"] == "auc = 0.5 is not >= 0.9"

    # production: not in staging, and approvals that do not count
    good = push_image(client, f"{world.registry}/promote-gates/{model}")
    with_evidence(client, world, good, signer="alice")
    v3 = new_version(world, model, good)
    for who, environment in (("alice", "production"), ("bob", "staging")):
        given = cli(env, "approve", model, "--version", str(v3), "--env", environment,
                    "--key", world.key(who))  # fmt: skip
        assert given.returncode == 0, given.stderr
    result = cli(env, "promote", model, "--version", str(v3), "--to", "production", "--dry-run")
    assert result.returncode == 1
    doc = out(result)
    assert gate(doc, "from staging")["result"] == "fail"
    why = gate(doc, "approvals")["why"]
    assert why.startswith("2 approvals short")
    assert "alice: self-approval: alice signed the image (separation of duties)" in why
    assert "bob: an approval for staging, not production" in why


def test_two_promotions_race_exactly_one_wins(
    world: World, env: dict[str, str], client: RegistryClient, tmp_path: Path
) -> None:
    model = f"race-{uuid.uuid4().hex[:6]}"
    versions = []
    for _ in range(2):
        image = push_image(client, f"{world.registry}/promote-race/{model}")
        with_evidence(client, world, image)
        versions.append(new_version(world, model, image))
    # Both evaluate the gates and read the alias, then wait for each other before either moves it.
    barrier = tmp_path / "barrier"
    racing = env | {"MLTOOLKIT_TEST_FAULT": f"before-lock=barrier:{barrier}:2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mltoolkit", "--json", *promoting(world, model, v, "staging")],
            env=racing,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = versions[[code for code, _, _ in results].index(0)]
    loser_err = next(err for code, _, err in results if code == 1)
    assert MOVED in loser_err
    assert alias(world, model, "staging") == winner
    trail = out(cli(env, "audit", model))
    assert [p["version"] for p in trail["history"]] == [winner]
    assert trail["ok"]


def test_failure_between_copy_and_alias_then_rerun_converges(
    world: World, env: dict[str, str], client: RegistryClient
) -> None:
    model = f"fault-{uuid.uuid4().hex[:6]}"
    image = push_image(client, f"{world.registry}/promote-fault/{model}")
    with_evidence(client, world, image)
    version = new_version(world, model, image)
    args = promoting(world, model, version, "staging")
    failed = cli(env, *args, MLTOOLKIT_TEST_FAULT="after-copy")
    assert failed.returncode == 3, failed.stderr
    assert "injected failure at after-copy" in failed.stderr
    assert manifest_exists(world.registry, world.staging, str(image.digest))  # the copy happened
    assert alias(world, model, "staging") is None  # ...but nothing visible moved
    assert not Path(env["MLTOOLKIT_AUDIT_LOG"]).exists()

    # a failure after the alias moved (recording it) puts the alias back
    failed = cli(env, *args, MLTOOLKIT_TEST_FAULT="after-alias")
    assert failed.returncode == 3
    assert alias(world, model, "staging") is None

    rerun = cli(env, *args)
    assert rerun.returncode == 0, rerun.stderr
    outcome = out(rerun)["outcome"]
    assert outcome["status"] == "promoted"
    assert outcome["copied"]["manifests"] == 0  # already there from the failed run
    assert alias(world, model, "staging") == version
    again = cli(env, *args)
    assert again.returncode == 0
    assert out(again)["outcome"]["status"] == "unchanged"
    assert out(cli(env, "audit", model))["ok"]


def test_rollback_then_tampered_audit_log_is_detected(
    world: World, env: dict[str, str], client: RegistryClient
) -> None:
    model = f"tamper-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        image = push_image(client, f"{world.registry}/promote-tamper/{model}")
        with_evidence(client, world, image)
        version = new_version(world, model, image)
        done = cli(env, *promoting(world, model, version, "staging"))
        assert done.returncode == 0, done.stderr
    rollback = cli(env, *promoting(world, model, 1, "staging"))
    assert rollback.returncode == 0, rollback.stderr
    assert out(rollback)["outcome"]["previous_version"] == 2
    log = Path(env["MLTOOLKIT_AUDIT_LOG"])
    trail = out(cli(env, "audit", model))
    assert trail["ok"]
    assert [(p["version"], p["rollback"]) for p in trail["history"]] == [
        (1, False),
        (2, False),
        (1, True),
    ]
    lines = log.read_text().splitlines()

    edited = json.loads(lines[0])
    edited["approvals"] = [{"approver": "mallory"}]
    log.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    result = cli(env, "audit", model)
    assert result.returncode == 1
    assert "entry 1 (line 1) was edited: its signature does not verify" in out(result)["problems"]

    log.write_text(lines[1] + "\n")
    result = cli(env, "audit", model)
    assert result.returncode == 1
    assert "entry 1 is missing: removed from the log" in out(result)["problems"]

    log.write_text(lines[0] + "\n" + lines[1] + "\n")  # the last entry cut: the chain is whole
    result = cli(env, "audit", model)
    assert result.returncode == 1
    assert "MLflow alias staging points to version 1 but the audit log's last" in result.stderr

    # a promotion refuses to extend a broken log
    log.write_text(lines[1] + "\n")
    result = cli(env, "promote", model, "--version", "1", "--to", "staging", "--dry-run")
    assert result.returncode == 1
    assert gate(out(result), "audit log")["result"] == "fail"
