"""Benchmark: gate evaluation with six evidence types, and promoting a large image in one registry.

    eval "$(scripts/services env)"           # DOCKER_HOST, MLTOOLKIT_REGISTRY
    .venv/bin/python bench/promote.py [--rounds 5] [--size-mb 1024] [--write]

1. Gate evaluation (what `promote --dry-run` does after start-up): an image with a signature and
   six kinds of attestations (SBOM, scan, data validation, SLSA provenance, model signature) plus
   two approvals, each stored both as cosign 2.x .att layers and as bundle referrers; a version in
   MLflow (MLFLOW_TRACKING_URI, else a fresh SQLite store). Per round, in one process: wall time
   and registry requests of `assess` (MLflow reads, evidence collection and verification, gates).
2. Promotion of a --size-mb image (four uncompressed tar layers of random bytes) from one
   repository to another of the same registry with mltoolkit's copy (what `promote` does), against
   `docker pull` + `docker push` of the same image with the engine: wall time, and layer bytes
   uploaded by mltoolkit (blobs it had to stream instead of mounting; must be 0).
--write appends the tables to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.images import push_image  # noqa: E402

from mltoolkit.approvals.record import approval_predicate  # noqa: E402
from mltoolkit.evidence.types import APPROVAL, DATA_VALIDATION, SCAN_RESULT  # noqa: E402
from mltoolkit.oci.copy import copy_attached, copy_image  # noqa: E402
from mltoolkit.oci.reference import Digest, ImageRef  # noqa: E402
from mltoolkit.oci.registry import RegistryClient  # noqa: E402
from mltoolkit.signing.attest import attest_image  # noqa: E402
from mltoolkit.signing.keys import generate_key_pair, load_signer  # noqa: E402
from mltoolkit.signing.sign import sign_image  # noqa: E402
from mltoolkit.signing.target import pinned_target  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EVIDENCE = {
    "https://cyclonedx.org/bom": {"bomFormat": "CycloneDX", "components": []},
    SCAN_RESULT: {"scanner": {"result": {"passed": True}}},
    DATA_VALIDATION: {"verdict": "pass", "statistics": {"success_percent": 100.0}},
    "https://slsa.dev/provenance/v1": {"buildDefinition": {}, "runDetails": {}},
    "https://model_signing/signature/v1.0": {"subject": "model"},
}


class RequestCounter:
    """Counts the registry requests one client makes."""

    def __init__(self, client: RegistryClient) -> None:
        self.requests = 0
        transport: Any = client.transport
        original = transport.request

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            return original(*args, **kwargs)

        transport.request = counting


def _policy(work: Path, registry: str, uid: str) -> Path:
    path = work / "mltoolkit.yaml"
    path.write_text(
        f"""version: 1
trust:
  keys:
    ci: {{path: ci.pub}}
    alice: {{path: alice.pub}}
    bob: {{path: bob.pub}}
environments:
  production:
    from: null
    repository: {registry}/bench-promote-{uid}/production
    requires: [signature, sbom, vulnerability-scan, data-validation, provenance, model-signature]
    metrics: {{auc: ">= 0.9"}}
    approvals: {{required: 2, from: [alice, bob], separation-of-duties: true, max-age: 7d}}
"""
    )
    return path


def _mlflow_version(tracking_uri: str, model: str, image: ImageRef) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model(model)
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "auc", 0.95)
    tags = {"mltoolkit.image": str(image), "mltoolkit.image.digest": str(image.digest)}
    return client.create_model_version(
        model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=tags
    )


def bench_gates(rounds: int, work: Path, registry: str) -> dict[str, Any]:
    """Time `assess` for an image carrying six evidence types and two approvals."""
    from mltoolkit.models.location import resolve_location
    from mltoolkit.models.store import open_store
    from mltoolkit.policy.loader import load_policy
    from mltoolkit.promote.run import assess

    for name in ("ci", "alice", "bob"):
        generate_key_pair(work / name, b"")
    os.environ["MLTOOLKIT_KEY_PASSWORD"] = ""
    ci, alice, bob = (load_signer(str(work / f"{n}.key")) for n in ("ci", "alice", "bob"))
    uid = uuid.uuid4().hex[:8]
    policy = load_policy(_policy(work, registry, uid))
    model = f"bench-{uid}"
    with RegistryClient() as client:
        image = push_image(client, f"{registry}/bench-promote-{uid}/build")
        target = pinned_target(client, image, action="sign")
        sign_image(client, target, ci, {}, "both")
        for predicate_type, predicate in EVIDENCE.items():
            attest_image(client, target, ci, predicate_type, predicate, "both")
        for who, signer in (("alice", alice), ("bob", bob)):
            approval = approval_predicate(
                model=model,
                version=1,
                digest=str(image.digest),
                environment="production",
                approver=who,
                time=dt.datetime.now(dt.UTC),
            )
            attest_image(client, target, signer, APPROVAL, approval, "both")
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    location = resolve_location()
    store = open_store(location)
    _mlflow_version(tracking, model, image)
    times, requests, passed = [], [], None
    for _ in range(rounds):
        with RegistryClient() as client:
            counter = RequestCounter(client)
            start = time.perf_counter()
            assessment = assess(
                policy,
                store,
                client,
                model=model,
                version=1,
                environment="production",
                audit_path=work / "audit.jsonl",
                now=dt.datetime.now(dt.UTC),
            )
            times.append(time.perf_counter() - start)
            requests.append(counter.requests)
            passed = assessment.passed
            failed = [g.to_dict() for g in assessment.evaluation.failed]
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "requests": statistics.median(requests),
        "gates": len(assessment.evaluation.gates),
        "passed": passed,
        "failed": failed,
        "mlflow": location.describe().split(":", 1)[0],
    }


def _layer_file(directory: Path, size: int) -> Path:
    """An uncompressed tar holding one file of ``size`` random bytes."""
    path = directory / f"layer-{uuid.uuid4().hex[:8]}.tar"
    payload = directory / "payload.bin"
    with payload.open("wb") as handle:
        left = size
        while left:
            chunk = min(left, 8 << 20)
            handle.write(os.urandom(chunk))
            left -= chunk
    with tarfile.open(path, "w") as tar:
        tar.add(payload, arcname=f"data/{path.stem}.bin")
    payload.unlink()
    return path


def _push_large(client: RegistryClient, repo: ImageRef, size_mb: int, work: Path) -> ImageRef:
    layers = []
    diff_ids = []
    for _ in range(4):
        path = _layer_file(work, size_mb * (1 << 20) // 4)
        with path.open("rb") as handle:
            digest = client.upload_blob(repo, handle)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": str(digest), "size": path.stat().st_size})  # fmt: skip
        diff_ids.append(str(digest))
        path.unlink()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    client.put_blob(repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    digest = client.put_manifest(repo, "big", manifest, OCI_MANIFEST)
    return repo.repo_only().with_digest(digest)


def bench_copy(size_mb: int, work: Path, registry: str) -> dict[str, Any]:
    """mltoolkit's copy within one registry against docker pull + push, for one large image."""
    import docker

    uid = uuid.uuid4().hex[:8]
    with RegistryClient() as client:
        src = _push_large(
            client, ImageRef.parse(f"{registry}/bench-big-{uid}/build:big"), size_mb, work
        )
        dst = ImageRef.parse(f"{registry}/bench-big-{uid}/production")
        counter = RequestCounter(client)
        start = time.perf_counter()
        report = copy_image(client, src, dst)
        report.merge(copy_attached(client, src.repo_only(), dst, src.require_digest()))
        ours = time.perf_counter() - start
        manifest = client.get_manifest(src.repo_only(), src.require_digest()).json()
    sizes = {layer["digest"]: int(layer["size"]) for layer in manifest["layers"]}
    streamed = report.blobs.get("copied", 0)
    engine = docker.from_env(timeout=1800)
    start = time.perf_counter()
    engine.images.pull(f"{src.name}@{src.digest}")
    pulled = time.perf_counter() - start
    image = engine.images.get(f"{src.name}@{src.digest}")
    target = f"{registry}/bench-big-{uid}/docker"
    image.tag(target, "big")
    start = time.perf_counter()
    for line in engine.images.push(target, tag="big", stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(line["error"])
    pushed = time.perf_counter() - start
    engine.images.remove(f"{target}:big", force=True)
    engine.images.remove(image.id, force=True)
    return {
        "size_mb": sum(sizes.values()) / (1 << 20),
        "ours_s": ours,
        "requests": counter.requests,
        "blobs": dict(report.blobs),
        "bytes_uploaded": 0 if not streamed else None,
        "streamed_blobs": streamed,
        "docker_pull_s": pulled,
        "docker_push_s": pushed,
    }


def _table(gates: dict[str, Any], copy: dict[str, Any] | None, rounds: int, size_mb: int) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## Promotion",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {load} at the end",
        f"- reproduce: `.venv/bin/python bench/promote.py --rounds {rounds} --size-mb {size_mb}`",
        "- gate evaluation: `assess` in one warm process (MLflow reads, evidence collection and "
        "signature checks, gates); image with a signature, five attestation types and two "
        "approvals, each in both cosign formats",
        "",
        "| case | median s | min s | max s | registry requests | gates | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| gate evaluation ({gates['mlflow']} MLflow, {rounds} rounds) | {gates['median_s']:.3f} "
        f"| {gates['min_s']:.3f} | {gates['max_s']:.3f} | {gates['requests']:.0f} "
        f"| {gates['gates']} | {'pass' if gates['passed'] else 'FAIL'} |",
    ]
    if copy is not None:
        lines += [
            "",
            f"Promotion copy of a {copy['size_mb']:.0f} MiB image (4 uncompressed layers) to "
            "another repository of the same registry:",
            "",
            "| method | wall s | layer bytes uploaded | registry requests |",
            "| --- | ---: | ---: | ---: |",
            f"| mltoolkit copy (cross-repository mount) | {copy['ours_s']:.2f} | "
            f"{0 if copy['streamed_blobs'] == 0 else 'streamed ' + str(copy['streamed_blobs'])} "
            f"| {copy['requests']} |",
            f"| docker pull + push | {copy['docker_pull_s'] + copy['docker_push_s']:.2f} "
            f"(pull {copy['docker_pull_s']:.2f}, push {copy['docker_push_s']:.2f}) | - | - |",
            "",
            f"Blob outcomes of the mltoolkit copy: {json.dumps(copy['blobs'], sort_keys=True)}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--skip-copy", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    registry = os.environ["MLTOOLKIT_REGISTRY"]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="bench-promote-") as tmp:
        work = Path(tmp)
        gates = bench_gates(args.rounds, work, registry)
        copy = None if args.skip_copy else bench_copy(args.size_mb, work, registry)
    table = _table(gates, copy, args.rounds, args.size_mb)
    print(table)
    if gates["failed"]:
        print(json.dumps(gates["failed"], indent=2), file=sys.stderr)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a") as handle:
            handle.write("\n" + table)


if __name__ == "__main__":
    main()
