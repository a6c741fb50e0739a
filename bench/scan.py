"""Benchmark: `mltoolkit scan` against trivy run directly, same scanners, image, DB and cache.

    eval "$(scripts/services env)"           # the local registry (MLTOOLKIT_REGISTRY)
    .venv/bin/python bench/scan.py [--rounds 9] [--cold-rounds 3] [--stand-in-rounds 25]
                                   [--image REF@DIGEST] [--write]

Without --image, a test image is pushed to the registry through its API: one layer holding a copy
of this machine's Python standard library (about 50 MB of files for the secret scanner) plus
requests 2.19.0's METADATA (for the vulnerability scanner). The vulnerability DB is the synthetic
test DB (tests/support/trivydb), served from the same registry as trivy's OCI artifact.

trivy runs with exactly the arguments mltoolkit passes it. Two cases: the same digest again (one
warm cache: trivy's shortest run, where mltoolkit's fixed start-up cost weighs most) and a new
image, as in CI after each build (a fresh cache holding only the DB). Each round runs the two
commands in ABBA order (BAAB the next round); the figure is the median over rounds of each
round's ratio mltoolkit / trivy (sum of its two runs over theirs), in wall time (the
target: <= 1.10) and in CPU time (user + system of each command and its children, which other
load on the machine disturbs less). A third measurement isolates mltoolkit's own cost: trivy is
replaced by a stand-in script printing the report trivy wrote, and mltoolkit with the stand-in
is compared with the stand-in run directly (the difference is what mltoolkit adds to any scan).

mltoolkit's bytecode is compiled once, as `pip install` does, into the bench's own directory
(PYTHONPYCACHEPREFIX): with PYTHONDONTWRITEBYTECODE set, every run would recompile every module.
--write replaces the scan section of bench/RESULTS.md.
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
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
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
    parser.add_argument(
        "--stand-in-rounds", type=int, default=25, help="rounds, trivy replaced by a stand-in"
    )
    parser.add_argument(
        "--write", action="store_true", help="replace the scan section of bench/RESULTS.md"
    )
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
    # An installed mltoolkit has its bytecode compiled (pip does it at install time); a session
    # with PYTHONDONTWRITEBYTECODE would recompile every module on every run instead. The
    # warm-up run writes the bytecode into the bench's own directory, not into the work tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
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

    load_start = os.getloadavg()
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
            # ABBA (then BAAB): each command runs first and last equally often, so a drift of
            # the machine's load within a round, or a cost of running second, cancels out.
            order = ["direct", "ours", "ours", "direct"]
            if round_no % 2:
                order = ["ours", "direct", "direct", "ours"]
            measured: dict[str, list[tuple[float, float]]] = {"direct": [], "ours": []}
            for position, name in enumerate(order):
                build = direct if name == "direct" else ours
                command = build(cache_for(f"{name}-{round_no}-{position}-{len(lines)}"))
                seconds, cpu, code = timed(command, env)
                if code not in (0, 1):
                    sys.exit(f"run failed ({code}): {' '.join(command)}")
                wall[name].append(seconds)
                measured[name].append((seconds, cpu))
            ratios.append(_sum(measured["ours"], 0) / _sum(measured["direct"], 0))
            cpu_ratios.append(_sum(measured["ours"], 1) / _sum(measured["direct"], 1))
        ratio = statistics.median(ratios)
        t_direct, t_ours = wall["direct"], wall["ours"]
        lines += [
            f"{case}, {rounds} ABBA rounds ({2 * rounds} runs of each):",
            f"  trivy direct   median {statistics.median(t_direct):.3f} s "
            f"(min {min(t_direct):.3f})",
            f"  mltoolkit scan median {statistics.median(t_ours):.3f} s (min {min(t_ours):.3f})",
            f"  wall-time ratio, median of per-round ratios: {ratio:.3f} "
            f"({'OK' if ratio <= 1.10 else 'OVER'} against <= 1.10)",
            f"  CPU-time ratio (user+sys, less disturbed by other load): "
            f"{statistics.median(cpu_ratios):.3f}",
        ]
    lines += fixed_cost(work, env, direct(warm), ours, rounds=args.stand_in_rounds)
    findings = json.loads(result_file.read_text())["counts"]
    lines += [
        f"findings: {findings}",
        f"load average at the start: {', '.join(f'{x:.2f}' for x in load_start)}",
        f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]
    print("\n".join(lines))
    if args.write:
        section = [
            f"## scan: mltoolkit scan vs trivy direct ({dt.date.today().isoformat()})",
            "",
            f"`bench/scan.py --rounds {args.rounds} --cold-rounds {args.cold_rounds} "
            f"--stand-in-rounds {args.stand_in_rounds}` on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} cores), trivy 0.76.0, scanners {SCANNERS}, image `{image}` "
            "(Python stdlib + requests 2.19.0 METADATA, one layer, from the local registry), "
            "synthetic test DB from the same registry; trivy run directly with the exact "
            "arguments mltoolkit passes; each round runs them in ABBA order (BAAB the next), "
            "its ratio is the sum of mltoolkit's two runs over trivy's; mltoolkit's bytecode "
            "compiled once, as `pip install` does. Two cases: the same digest again (trivy's "
            "layer cache warm: trivy's shortest run, so mltoolkit's fixed cost weighs most) and "
            "a new image as in CI after each build (fresh cache holding only the DB). Then "
            "mltoolkit's own cost alone: trivy replaced by a stand-in script that prints the "
            "report trivy wrote, against that stand-in run directly.",
            "",
            "```",
            *lines,
            "```",
            "",
        ]
        replace_section(ROOT / "bench" / "RESULTS.md", "## scan: mltoolkit scan vs trivy", section)


def _sum(runs: list[tuple[float, float]], index: int) -> float:
    return sum(run[index] for run in runs)


def fixed_cost(
    work: Path,
    env: dict[str, str],
    direct: list[str],
    ours: Callable[[Path], list[str]],
    *,
    rounds: int,
) -> list[str]:
    """mltoolkit's own time per scan: trivy swapped for a script printing trivy's saved report."""
    report = work / "trivy-report.json"
    real = subprocess.run(direct, capture_output=True, env=env, check=True)
    report.write_bytes(real.stdout)
    version = json.loads(real.stdout)["Trivy"]["Version"]
    stand_in = work / "trivy-stand-in"
    stand_in.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo \'{{"Version":"{version}"}}\'; exit 0; fi\n'
        f"exec cat {shlex.quote(str(report))}\n"
    )
    stand_in.chmod(0o755)
    cache = work / "stand-in-cache"
    (cache / "db").mkdir(parents=True)
    shutil.copy(work / "warm" / "db" / "metadata.json", cache / "db" / "metadata.json")
    stand_in_env = {**env, "MLTOOLKIT_TRIVY": str(stand_in)}
    commands = {"direct": [str(stand_in), *direct[1:]], "ours": ours(cache)}
    timed(commands["ours"], stand_in_env)  # the stand-in's version note
    wall: dict[str, list[float]] = {"direct": [], "ours": []}
    cpu: dict[str, list[float]] = {"direct": [], "ours": []}
    for round_no in range(rounds):
        for name in ("direct", "ours") if round_no % 2 == 0 else ("ours", "direct"):
            seconds, used, code = timed(commands[name], stand_in_env)
            if code not in (0, 1):
                sys.exit(f"stand-in run failed ({code}): {' '.join(commands[name])}")
            wall[name].append(seconds)
            cpu[name].append(used)
    added = [(o - d) * 1000 for o, d in zip(wall["ours"], wall["direct"], strict=True)]
    added_cpu = [(o - d) * 1000 for o, d in zip(cpu["ours"], cpu["direct"], strict=True)]
    return [
        f"mltoolkit's own cost (trivy stand-in printing the saved report), {rounds} rounds:",
        f"  stand-in direct median {statistics.median(wall['direct']) * 1000:.1f} ms, "
        f"mltoolkit scan median {statistics.median(wall['ours']) * 1000:.1f} ms "
        f"(min {min(wall['ours']) * 1000:.1f})",
        f"  added per scan: wall median {statistics.median(added):.1f} ms "
        f"(min {min(added):.1f}), CPU median {statistics.median(added_cpu):.1f} ms",
    ]


def replace_section(results: Path, heading: str, section: list[str]) -> None:
    """Put ``section`` where the first section starting with ``heading`` was; drop the others."""
    text = results.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^(?=## )", text)
    kept: list[str] = []
    placed = False
    for part in parts:
        if part.startswith(heading):
            if not placed:
                kept.append("\n".join(section) + "\n")
                placed = True
            continue
        kept.append(part)
    if not placed:
        kept.append("\n" + "\n".join(section) + "\n")
    results.write_text("".join(kept), encoding="utf-8")


if __name__ == "__main__":
    main()
