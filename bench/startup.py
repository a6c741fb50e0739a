"""Start-up time of the mltoolkit CLI against the bare interpreter and against `import click`.

Usage (from the repository root):

    .venv/bin/python bench/startup.py [--runs 20] [--no-write] [COMMAND ...]

Benchmarks `mltoolkit --help` and `mltoolkit COMMAND --help` for each COMMAND given (default:
`build`) that is registered in `mltoolkit.cli.main.COMMANDS`; names not registered are listed as
skipped. Each case is run in a fresh process, round-robin so that drift hits every case alike,
after warm-up runs that fill the OS page cache. The baselines, run with the same interpreter, are
`python -c pass` (what any Python CLI pays) and `python -c "import click"` (what any click CLI
pays). The section "Start-up" of bench/RESULTS.md is replaced; other sections are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Start-up"
TARGET_RATIO = 1.3
# Runs start outside the repository, so that `-m` and `-c` cannot import its work tree by accident.
NEUTRAL_DIR = Path(tempfile.gettempdir())


def cli_argv(python: str) -> list[str]:
    """How a user starts mltoolkit with this interpreter: its console script, else `-m`."""
    script = Path(python).with_name("mltoolkit")
    if script.exists():
        return [str(script)]
    return [python, "-m", "mltoolkit"]


def registered_commands() -> set[str]:
    sys.path.insert(0, str(ROOT))
    from mltoolkit.cli.main import COMMANDS

    return set(COMMANDS)


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, check=False, cwd=NEUTRAL_DIR)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-500:]!r}")
    return elapsed


def measure(cases: dict[str, list[str]], runs: int, warmup: int) -> dict[str, list[float]]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its bytecode cached
    for key in [k for k in env if k.startswith(("GITHUB_", "GITLAB_", "PYTHONPROFILE"))]:
        del env[key]
    for _ in range(warmup):
        for argv in cases.values():
            time_once(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, argv in cases.items():
            samples[name].append(time_once(argv, env))
    return samples


def top_imports(python: str, args: list[str], count: int = 12) -> list[tuple[int, int, str]]:
    """The slowest imports (cumulative µs, self µs, name) of one run under -X importtime."""
    result = subprocess.run(
        [python, "-X", "importtime", "-m", "mltoolkit", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=NEUTRAL_DIR,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        depth = (len(match[3]) - 1) // 2 if match else -1
        if 0 <= depth <= 1:  # top-level imports and their direct children
            rows.append((int(match[2]), int(match[1]), "  " * depth + match[4]))
    return sorted(rows, reverse=True)[:count]


def machine(python: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({python}); load average {load} at the end"
    )


def render(
    section: str,
    python: str,
    cases: dict[str, list[str]],
    samples: dict[str, list[float]],
    skipped: list[str],
    runs: int,
    imports: list[tuple[int, int, str]],
    command_line: str,
) -> str:
    base = statistics.median(samples["python -c pass"])
    click_base = statistics.median(samples['python -c "import click"'])
    lines = [
        section,
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine(python)}",
        f"- reproduce: `{command_line}`",
        f"- method: {runs} runs per case, fresh process each, round-robin after warm-up; "
        "wall time of the whole process (fork, exec, interpreter start-up, imports, help output)",
        f"- target (issue): `mltoolkit --help` within {TARGET_RATIO}x `python -c pass`",
        "",
        "| case | median ms | min ms | max ms | x `python -c pass` | x `import click` |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in cases:
        values = samples[name]
        median = statistics.median(values)
        lines.append(
            f"| `{name}` | {median * 1000:.1f} | {min(values) * 1000:.1f} | "
            f"{max(values) * 1000:.1f} | {median / base:.2f} | {median / click_base:.2f} |"
        )
    if skipped:
        lines += ["", f"Skipped: {', '.join(skipped)}."]
    lines += [
        "",
        "Slowest imports of `mltoolkit --help` (one `-X importtime` run, µs, two levels deep):",
        "",
        "| cumulative | self | module |",
        "| ---: | ---: | --- |",
    ]
    for cumulative, own, name in imports:
        lines.append(
            f"| {cumulative} | {own} | `{name.strip()}`{' (nested)' * (name != name.strip())} |"
        )
    return "\n".join(lines) + "\n"


def write_section(section: str, text: str) -> None:
    """Replace our section of RESULTS.md (from its heading to the next `## `), keep the rest."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    temp = RESULTS.with_suffix(".md.tmp")
    temp.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
    temp.replace(RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs="*", default=["build"], metavar="COMMAND")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the environment to measure (default: this one)",
    )
    parser.add_argument("--label", help="suffix of the RESULTS.md section, e.g. 'wheel install'")
    args = parser.parse_args()
    python = args.python
    section = f"{SECTION} ({args.label})" if args.label else SECTION

    registered = registered_commands()
    cli = cli_argv(python)
    cases: dict[str, list[str]] = {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import click"': [python, "-c", "import click"],
        "mltoolkit --help": [*cli, "--help"],
    }
    skipped = []
    for command in args.commands:
        argv = [*cli, command, "--help"]
        if command not in registered:
            skipped.append(f"`{command}` (not registered)")
        elif subprocess.run(argv, capture_output=True, check=False, cwd=NEUTRAL_DIR).returncode:
            skipped.append(f"`{command}` (its --help fails)")
        else:
            cases[f"mltoolkit {command} --help"] = argv

    samples = measure(cases, args.runs, args.warmup)
    command_line = " ".join(
        [".venv/bin/python bench/startup.py", "--runs", str(args.runs)]
        + (["--python", python, "--label", repr(args.label)] if args.label else [])
        + args.commands
    )
    imports = top_imports(python, ["--help"])
    text = render(section, python, cases, samples, skipped, args.runs, imports, command_line)
    print(text)
    if not args.no_write:
        write_section(section, text)
        print(f"updated {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
