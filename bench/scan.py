"""Benchmark: `mltoolkit scan` against trivy run directly, same scanners, image, DB and cache.

    eval "$(scripts/services env)"           # the local registry (MLTOOLKIT_REGISTRY)
    .venv/bin/python bench/scan.py [--rounds 9] [--cold-rounds 3] [--image REF@DIGEST] [--write]

Without --image, a test image is pushed to the registry through its API: one layer holding a copy
of this machine's Python standard library (about 50 MB of files for the secret scanner) plus
requests 2.19.0's METADATA (for the vulnerability scanner). The vulnerability DB is the synthetic
test DB (tests/support/trivydb), served from the same registry as trivy's OCI artifact.

trivy runs with exactly the arguments mltoolkit passes it. Two cases: the same digest again (one
warm cache: trivy's shortest run, where mltoolkit's fixed start-up cost weighs most) and a new
image, as in CI after each build (a fresh cache holding only the DB). The order alternates each
round; the figure is the median of the per-round ratios mltoolkit / trivy, in wall time (the
target: <= 1.10) and in CPU time (user + system of each command and its children, which other
load on the machine disturbs less). --write appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.trivydb.builder import push_db, put_blob, write_db  # noqa: E402

SCANNERS = "vuln,secret,misconfig"
METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"


def push_bench_image(registry: str) -> str:
    """Push the synthetic image through the registry API; return ``repo@digest``."""
    raw = io.BytesIO()
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(stdlib, arcname="usr/lib/python3.11", filter=_no_pycache)
        info = tarfile.TarInfo(
            "usr/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA"
        )
        info.size = len(METADATA)
        tar.addfile(info, io.BytesIO(METADATA))
    layer_raw = raw.getvalue()
    layer = gzip.compress(layer_raw, compresslevel=1, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer_raw).hexdigest()],
            },
        }
    ).encode()
    base, repo = f"http://{registry}", "mltoolkit-bench/scan"
    with requests.Session() as session:
        layer_digest = put_blob(session, base, repo, layer)
        config_digest = put_blob(session, base, repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        put = session.put(
            f"{base}/v2/{repo}/manifests/bench",
            data=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            timeout=60,
        )
        put.raise_for_status()
    return f"{registry}/{repo}@sha256:{hashlib.sha256(manifest).hexdigest()}"


def _no_pycache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else info


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, the command and its children) and exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds, same image again")
    parser.add_argument("--cold-rounds", type=int, default=3, help="rounds, new image")
    parser.add_argument("--image", help="REF@DIGEST to scan (default: push the bench image)")
    parser.add_argument("--registry", default=os.environ.get("MLTOOLKIT_REGISTRY"))
    parser.add_argument("--write", action="store_true", help="append a section to RESULTS.md")
    args = parser.parse_args()
    if not args.registry:
        sys.exit('no registry: eval "$(scripts/services env)" or pass --registry HOST:PORT')

    trivy = subprocess.run(
        [str(ROOT / "scripts" / "install-trivy")], capture_output=True, text=True, check=True
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="mltoolkit-bench-scan-"))
    db_dir = write_db(work / "db", updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    db_repo = push_db(args.registry, "mltoolkit-bench/trivy-db", "2", db_dir)
    image = args.image or push_bench_image(args.registry)
    env = {**os.environ, "MLTOOLKIT_TRIVY": trivy, "MLTOOLKIT_PLATFORM": "local"}
    result_file = work / "result.json"

    def direct(cache: Path) -> list[str]:
        # The exact command mltoolkit runs (see mltoolkit.scan.runner.trivy_image_args).
        return [
            trivy, "image", "--format", "json", "--quiet", "--scanners", SCANNERS,
            "--image-src", "remote", "--timeout", "600s", "--cache-dir", str(cache),
            "--db-repository", db_repo, "--skip-java-db-update", "--skip-check-update",
            "--insecure", image,
        ]  # fmt: skip

    def ours(cache: Path) -> list[str]:
        return [
            sys.executable, "-m", "mltoolkit", "scan", image, "--scanners", SCANNERS,
            "--db-repository", db_repo, "--cache-dir", str(cache), "--fail-on", "NONE",
            "--json", str(result_file),
        ]  # fmt: skip

    warm = work / "warm"
    for command in (direct(warm), ours(warm)):  # DB download, layer cache, version cache
        _, _, code = timed(command, env)
        if code not in (0, 1):
            sys.exit(f"warm-up failed ({code}): {' '.join(command)}")

    def fresh_cache(name: str) -> Path:
        """A cache holding only the DB (and the version note): the image's layers are new."""
        cache = work / name
        shutil.copytree(warm / "db", cache / "db")
        shutil.copy(warm / "mltoolkit-trivy.json", cache / "mltoolkit-trivy.json")
        return cache

    cases = {
        "same image again (layer cache warm)": (lambda tag: warm, args.rounds),
        "new image (layer cache cold, DB warm)": (fresh_cache, args.cold_rounds),
    }
    lines: list[str] = []
    for case, (cache_for, rounds) in cases.items():
        ratios, cpu_ratios = [], []
        wall: dict[str, list[float]] = {"direct": [], "ours": []}
        for round_no in range(rounds):
            runs = [("direct", direct), ("ours", ours)]
            if round_no % 2:
                runs.reverse()
            measured: dict[str, tuple[float, float]] = {}
            for name, build in runs:
                command = build(cache_for(f"{name}-{round_no}-{len(lines)}"))
                seconds, cpu, code = timed(command, env)
                if code not in (0, 1):
                    sys.exit(f"run failed ({code}): {' '.join(command)}")
                wall[name].append(seconds)
                measured[name] = (seconds, cpu)
            ratios.append(measured["ours"][0] / measured["direct"][0])
            cpu_ratios.append(measured["ours"][1] / measured["direct"][1])
        ratio = statistics.median(ratios)
        t_direct, t_ours = wall["direct"], wall["ours"]
        lines += [
            f"{case}, {rounds} rounds:",
            f"  trivy direct   median {statistics.median(t_direct):.3f} s "
            f"(min {min(t_direct):.3f})",
            f"  mltoolkit scan median {statistics.median(t_ours):.3f} s (min {min(t_ours):.3f})",
            f"  wall-time ratio, median of per-round ratios: {ratio:.3f} "
            f"({'OK' if ratio <= 1.10 else 'OVER'} against <= 1.10)",
            f"  CPU-time ratio (user+sys, less disturbed by other load): "
            f"{statistics.median(cpu_ratios):.3f}",
        ]
    findings = json.loads(result_file.read_text())["counts"]
    lines += [
        f"findings: {findings}",
        f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]
    print("\n".join(lines))
    if args.write:
        section = [
            "",
            f"## scan: mltoolkit scan vs trivy direct ({dt.date.today().isoformat()})",
            "",
            f"`bench/scan.py --rounds {args.rounds} --cold-rounds {args.cold_rounds}` on "
            f"{platform.node() or 'this machine'} "
            f"({os.cpu_count()} cores), trivy 0.76.0, scanners {SCANNERS}, image `{image}` "
            "(Python stdlib + requests 2.19.0 METADATA, one layer, from the local registry), "
            "synthetic test DB from the same registry; trivy run directly with the exact "
            "arguments mltoolkit passes; order alternating each round. Two cases: the same "
            "digest again (trivy's layer cache warm: trivy's shortest run, so mltoolkit's "
            "fixed start-up cost weighs most) and a new image as in CI after each build "
            "(fresh cache holding only the DB).",
            "",
            "```",
            *lines,
            "```",
            "",
        ]
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n".join(section))


if __name__ == "__main__":
    main()
