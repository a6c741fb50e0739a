"""Benchmark: the environment the setup action builds, per extras set: time to create, size on disk.

    .venv/bin/python bench/setup_size.py [--rounds 1] [--sets core,scan,data,mlflow,full] [--write]

Every environment is made by actions/lib/setup-mltoolkit itself (what action.yml and every step
action run), from requirements/<set>.txt, each time into a fresh, empty cache directory
(MLTOOLKIT_SETUP_CACHE), so the venv is created and installed from scratch. "full" is the whole
stack in one environment, requirements/data+mlflow+scan.txt, which the repository does not ship:
it is locked here, in a temporary copy of the source tree, by the project's own
scripts/lock-requirements (uv, resolved against PyPI), then installed the same way.

Downloads: one untimed warm-up install of each set comes first, so the timed runs get their
wheels from pip's cache (~/.cache/pip) and the machine's local wheel directories (pip.conf), not
from the network: the times are install times, not download times. Also timed: the step's cost
when the cache directory is restored (the script finds the complete environment and only checks
it). Size: bytes on disk (allocated blocks, hard links once) and apparent bytes, files, packages.
--write appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "actions" / "lib" / "setup-mltoolkit"
FULL = "data+mlflow+scan"


def full_stack_source(work: Path) -> Path:
    """A copy of the source tree with requirements/data+mlflow+scan.txt locked in it."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("mltoolkit", "requirements"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lock-requirements", source / "scripts")
    env = {**os.environ, "UV": str(ROOT / ".venv" / "bin" / "uv")}
    subprocess.run(
        [str(source / "scripts" / "lock-requirements"), FULL], env=env, check=True, cwd=source
    )
    return source


def packages(lock: Path) -> int:
    """Pinned requirements in a lock file."""
    return sum(1 for line in lock.read_text().splitlines() if "==" in line and line[:1].isalnum())


def disk_usage(path: Path) -> tuple[int, int, int]:
    """Allocated bytes (hard links counted once), apparent bytes and files under ``path``."""
    seen: set[tuple[int, int]] = set()
    allocated = apparent = files = 0
    for directory, _, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(directory, name))
            files += 1
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            allocated += st.st_blocks * 512
            apparent += st.st_size
    return allocated, apparent, files


def setup(source: Path, extras: str, cache: Path, python: str) -> tuple[float, Path]:
    """Run the setup script once; return wall seconds and the environment's directory."""
    env = {
        **os.environ,
        "MLTOOLKIT_SOURCE": str(source),
        "MLTOOLKIT_EXTRAS": extras,
        "MLTOOLKIT_SETUP_CACHE": str(cache),
        "MLTOOLKIT_PYTHON": python,
    }
    start = time.perf_counter()
    proc = subprocess.run([str(SETUP)], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"setup-mltoolkit failed for '{extras}' ({proc.returncode}):\n{proc.stderr}")
    return seconds, Path(proc.stdout.strip()).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="timed fresh installs per set")
    parser.add_argument("--sets", default="core,scan,data,mlflow,full")
    parser.add_argument("--write", action="store_true", help="append a section to RESULTS.md")
    args = parser.parse_args()

    python = subprocess.run(
        ["python3", "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="mltoolkit-bench-setup-"))
    rows = []
    for name in args.sets.split(","):
        source = full_stack_source(work) if name == "full" else ROOT
        lock_name = FULL if name == "full" else name
        extras = "" if name == "core" else lock_name.replace("+", ",")
        print(f"{name}: warm-up install", file=sys.stderr)
        setup(source, extras, work / f"{name}-warm", python)
        shutil.rmtree(work / f"{name}-warm")
        times, venv = [], Path()
        for round_no in range(args.rounds):
            cache = work / f"{name}-{round_no}"
            seconds, venv = setup(source, extras, cache, python)
            times.append(seconds)
        reuse, _ = setup(source, extras, work / f"{name}-{args.rounds - 1}", python)
        allocated, apparent, files = disk_usage(venv)
        count = packages(source / "requirements" / f"{lock_name}.txt")
        rows.append((name, lock_name, count, times, reuse, allocated, apparent, files))
        print(
            f"{name}: {statistics.median(times):.1f} s, {allocated / 1e6:.0f} MB", file=sys.stderr
        )
        for round_no in range(args.rounds):
            shutil.rmtree(work / f"{name}-{round_no}")

    scan = next((r for r in rows if r[0] == "scan"), None)
    lines = [
        "| set | lock file | packages | create s (median) | restored-cache s | on disk MB "
        "| apparent MB | files | x scan (time / size) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, lock_name, count, times, reuse, allocated, apparent, files in rows:
        median = statistics.median(times)
        versus = (
            f"{median / statistics.median(scan[3]):.1f} / {allocated / scan[5]:.1f}"
            if scan
            else "-"
        )
        lines.append(
            f"| {name} | requirements/{lock_name}.txt | {count} | {median:.1f} | {reuse:.2f} "
            f"| {allocated / 1e6:.0f} | {apparent / 1e6:.0f} | {files} | {versus} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        header = [
            "",
            f"## Setup action: environment per extras set, scan-only vs full stack "
            f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()} ({python}); load average {load} at the end",
            f"- reproduce: `.venv/bin/python bench/setup_size.py --rounds {args.rounds} "
            f"--sets {args.sets} --write`",
            "- method: actions/lib/setup-mltoolkit into a fresh cache directory per run, after "
            "one warm-up install per set: wheels come from pip's cache and the local wheel "
            "directories, not the network (see the docstring of bench/setup_size.py)",
            "",
        ]
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n".join(header) + "\n" + text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
