"""Benchmark: the card-fraud pipeline end to end, mltoolkit's wall time against its tools' own time.

    .venv/bin/python bench/pipeline.py [--rounds 3] [--no-fresh] [--write]

It runs scripts/demo (``--fresh`` unless --no-fresh: new keys, MLflow store and audit log; pip,
trivy and image caches kept) in its own state directory, .mltoolkit/bench-pipeline, with two
timing shims and no other change:

- ``mltoolkit``: every invocation's wall time and argv (the demo's ``--help`` probes are left out);
- ``trivy`` (through MLTOOLKIT_TRIVY): every trivy run inside ``mltoolkit sbom`` / ``scan``, so
  trivy's own time is measured inside the very steps that use it (``--version`` probes are not
  counted as trivy time: mltoolkit chose to make them).

Then, in the same run and on the same engine, registry and files, it measures the other tools
directly, alternating with the mltoolkit step each round (--rounds, median), so that both see
the same caches:

- build and push: ``mltoolkit build`` with the demo's argv against ``docker build``
  (DOCKER_BUILDKIT=0, the engine's classic builder, which mltoolkit's SDK calls use too) with the
  same context, build args, labels and tag, then ``docker push``;
- data validation: ``mltoolkit validate-data`` against a script that runs the same suite on the
  same CSV with Great Expectations directly (ephemeral context, pandas);
- MLflow: ``register``, ``promote`` and ``status`` against scripts making the same kind of MLflow
  calls (register_model + version tags; version/alias lookups + alias and tags; status lookups),
  one process each as in the pipeline, on a copy of the run's SQLite store.

Overhead = (mltoolkit's wall time - the tools' own time) / mltoolkit's wall time, over the
tool-backed steps (the issue's target: <= 15%), and again over every mltoolkit step, counting
steps with no underlying tool (keys, policy, sign, attest, approve, audit, report: mltoolkit's own
work) as overhead entirely. Training and data generation are the example's code, not mltoolkit's.
--write appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STATE = ROOT / ".mltoolkit" / "bench-pipeline"
EXAMPLE = ROOT / "examples" / "card-fraud"

MLTOOLKIT_SHIM = """#!/usr/bin/env bash
start=$EPOCHREALTIME
rc=0
{real} "$@" || rc=$?
end=$EPOCHREALTIME
{python} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$start" "$end" "$rc" "$@" \
  >>{log}
exit $rc
"""

TRIVY_SHIM = """#!/usr/bin/env bash
start=$EPOCHREALTIME
rc=0
{real} "$@" || rc=$?
printf '%s %s %s %s\\n' "$start" "$EPOCHREALTIME" "$rc" "$1" >>{log}
exit $rc
"""

GX_DIRECT = """
import sys, time, yaml
import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuite
suite_file, data = sys.argv[1], sys.argv[2]
raw = yaml.safe_load(open(suite_file))
items = [{"type": e["type"], "kwargs": e.get("kwargs", {})} for e in raw["expectations"]]
context = gx.get_context(mode="ephemeral")
suite = context.suites.add(ExpectationSuite(name=raw["name"], expectations=items))
batch = (
    context.data_sources.add_pandas("bench")
    .add_dataframe_asset("transactions")
    .add_batch_definition_whole_dataframe("all")
)
frame = pd.read_csv(data)
vd = context.validation_definitions.add(
    gx.ValidationDefinition(name="bench", data=batch, suite=suite)
)
result = vd.run(batch_parameters={"dataframe": frame})
assert len(result.results) == len(items), (len(result.results), len(items))
print(result.success)
"""

MLFLOW_DIRECT = """
import sys
import mlflow
from mlflow import MlflowClient
step, name, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
client = MlflowClient()
if step == "register":
    mv = mlflow.register_model(f"runs:/{run_id}/model", name, tags={"image": "x", "digest": "y"})
    for key in ("evidence.sbom", "evidence.scan", "evidence.data", "model.signature"):
        client.set_model_version_tag(name, mv.version, key, "sha256:" + "0" * 64)
    mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}")
elif step == "promote":
    mv = client.search_model_versions(f"name='{name}'")[0]
    client.get_model_version(name, mv.version)
    client.get_run(mv.run_id)
    try:
        client.get_model_version_by_alias(name, "staging")
    except mlflow.exceptions.MlflowException:
        pass
    client.set_registered_model_alias(name, "staging", mv.version)
    client.set_model_version_tag(name, mv.version, "promoted.staging", "now")
else:
    model = client.get_registered_model(name)
    for mv in client.search_model_versions(f"name='{name}'"):
        client.get_model_version(name, mv.version)
    for alias in ("staging", "production"):
        try:
            client.get_model_version_by_alias(name, alias)
        except mlflow.exceptions.MlflowException:
            pass
"""


@dataclass
class Call:
    """One recorded mltoolkit invocation."""

    argv: list[str]
    seconds: float
    rc: int
    trivy_seconds: float = 0.0


def run(command: list[str], env: dict[str, str]) -> float:
    """Run ``command`` to completion (output discarded unless it fails); return wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(command)}\n{proc.stdout}{proc.stderr}")
    return seconds


def make_shims(work: Path) -> Path:
    """A venv-shaped directory: python and mltoolkit wrappers, everything else linked."""
    shim = work / "venv"
    (shim / "bin").mkdir(parents=True)
    for entry in (VENV / "bin").iterdir():
        if entry.name not in ("python", "python3", "mltoolkit", "trivy"):
            (shim / "bin" / entry.name).symlink_to(entry)
    python = shim / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {VENV}/bin/python "$@"\n')
    (shim / "bin" / "python3").symlink_to(python)
    (shim / "bin" / "trivy").symlink_to(VENV / "bin" / "trivy")
    mlt = shim / "bin" / "mltoolkit"
    mlt.write_text(
        MLTOOLKIT_SHIM.format(
            real=VENV / "bin" / "mltoolkit", python=VENV / "bin" / "python", log=work / "calls.log"
        )
    )
    trivy = work / "trivy-timed"
    trivy.write_text(TRIVY_SHIM.format(real=VENV / "bin" / "trivy", log=work / "trivy.log"))
    for path in (python, mlt, trivy):
        path.chmod(0o755)
    return shim


def read_calls(work: Path) -> list[Call]:
    """The demo's mltoolkit calls with the trivy time spent inside each."""
    calls = []
    for line in (work / "calls.log").read_text().splitlines():
        start, end, rc, *argv = json.loads(line)
        calls.append(Call(argv, float(end) - float(start), int(rc)))
    starts = [json.loads(line)[:2] for line in (work / "calls.log").read_text().splitlines()]
    trivy_log = work / "trivy.log"
    for line in trivy_log.read_text().splitlines() if trivy_log.exists() else []:
        t0, t1, _rc, first = line.split()
        if first == "--version":
            continue
        for call, (c0, c1) in zip(calls, starts, strict=True):
            if float(c0) <= float(t0) <= float(c1):
                call.trivy_seconds += float(t1) - float(t0)
    return calls


def step_name(argv: list[str]) -> str:
    """``build``, ``promote staging``, ``validate-data --attest``... from an argv."""
    words = [a for a in argv if a != "--json"]
    name = words[0]
    if name == "promote":
        name += " " + words[words.index("--to") + 1]
    if name == "validate-data" and "--attest" in words:
        name += " --attest"
    if name == "keys" or name == "policy":
        name += " " + words[1]
    return name


def option(argv: list[str], flag: str) -> list[str]:
    """Every value of ``flag`` in ``argv``."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def paired(
    rounds: int, ours: list[str], direct: list[list[str]], env: dict[str, str]
) -> tuple[float, float]:
    """Median wall seconds of ``ours`` and of the ``direct`` commands (summed), alternating."""
    t_ours, t_direct = [], []
    for round_no in range(rounds):
        order = [0, 1] if round_no % 2 == 0 else [1, 0]
        for which in order:
            if which == 0:
                t_ours.append(run(ours, env))
            else:
                t_direct.append(sum(run(c, env) for c in direct))
    return statistics.median(t_ours), statistics.median(t_direct)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each paired comparison")
    parser.add_argument("--no-fresh", action="store_true", help="reuse the state of the last run")
    parser.add_argument("--write", action="store_true", help="append a section to RESULTS.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mltoolkit-bench-pipeline-"))
    shim = make_shims(work)
    if not (STATE / "cache").exists() and (ROOT / ".mltoolkit" / "demo" / "cache").exists():
        # Warm pip/trivy caches from the demo's own state: the first run's downloads are not
        # what this bench measures.
        STATE.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / ".mltoolkit" / "demo" / "cache", STATE / "cache", symlinks=True)
    env = {
        **os.environ,
        "MLTOOLKIT_VENV": str(shim),
        "MLTOOLKIT_DEMO_DIR": str(STATE),
        "MLTOOLKIT_TRIVY": str(work / "trivy-timed"),
    }
    demo = [str(ROOT / "scripts" / "demo")] + ([] if args.no_fresh else ["--fresh"])
    print(f"running {shlex.join(demo)} (state {STATE}) ...", file=sys.stderr)
    start = time.perf_counter()
    proc = subprocess.run(demo, env=env, capture_output=True, text=True, check=False)
    demo_seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"scripts/demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}")
    calls = [c for c in read_calls(work) if "--help" not in c.argv and c.argv]
    by_step: dict[str, list[Call]] = {}
    for call in calls:
        by_step.setdefault(step_name(call.argv), []).append(call)

    services = subprocess.run(
        [str(ROOT / "scripts" / "services"), "env"], capture_output=True, text=True, check=True
    ).stdout
    for line in services.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{STATE / 'mlflow.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        MLTOOLKIT_POLICY=str(STATE / "mltoolkit.yaml"),
        MLTOOLKIT_AUDIT_LOG=str(work / "audit.jsonl"),
        MLTOOLKIT_PLATFORM="local",
        DOCKER_BUILDKIT="0",
    )
    python = str(VENV / "bin" / "python")
    mlt = str(VENV / "bin" / "mltoolkit")
    rows: list[tuple[str, float, float, str]] = []

    for call in calls:
        if call.trivy_seconds:
            rows.append(
                (step_name(call.argv), call.seconds, call.trivy_seconds, "trivy, inside the step")
            )

    (build,) = by_step["build"]
    bargv = build.argv
    image = option(bargv, "--image")[0]
    tag = option(bargv, "--tag")[0]
    docker_build = ["docker", "build", "-q", "-t", f"{image}:{tag}"]
    for value in option(bargv, "--build-arg"):
        docker_build += ["--build-arg", value]
    for value in option(bargv, "--label"):
        docker_build += ["--label", value]
    docker_build.append(option(bargv, "--context")[0])
    ours, direct = paired(
        args.rounds, [mlt, *bargv], [docker_build, ["docker", "push", f"{image}:{tag}"]], env
    )
    rows.append(("build", ours, direct, f"docker build + push, paired x{args.rounds}"))

    script = work / "gx_direct.py"
    script.write_text(GX_DIRECT)
    plain = [c for c in by_step.get("validate-data", []) if "--attest" not in c.argv]
    if plain:
        vargv = plain[0].argv
        gx = [python, str(script), option(vargv, "--suite")[0], option(vargv, "--data")[0]]
        ours, direct = paired(args.rounds, [mlt, *vargv], [gx], env)
        rows.append(("validate-data", ours, direct, f"GX direct, paired x{args.rounds}"))
    for call in by_step.get("validate-data --attest", []):
        aargv = call.argv
        gx = [python, str(script), option(aargv, "--suite")[0], option(aargv, "--data")[0]]
        # The demo hands the key's password over in the environment, never in argv.
        password = Path(option(aargv, "--key")[0]).with_suffix(".password").read_text().strip()
        aenv = {**env, "MLTOOLKIT_KEY_PASSWORD": password}
        ours, gx_seconds = paired(args.rounds, [mlt, *aargv], [gx], aenv)
        source = f"GX direct, paired x{args.rounds}"
        rows.append(("validate-data --attest", ours, gx_seconds, source))

    summary = next((STATE / "train").glob("*.json"))
    run_id = json.loads(summary.read_text())["run_id"]
    store = work / "mlflow"
    store.mkdir()
    shutil.copy(STATE / "mlflow.db", store / "mlflow.db")
    menv = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    mlflow_script = work / "mlflow_direct.py"
    mlflow_script.write_text(MLFLOW_DIRECT)
    direct_times: dict[str, list[float]] = {"register": [], "promote": [], "status": []}
    for round_no in range(args.rounds):
        name = f"bench-direct-{round_no}"
        for step, times in direct_times.items():
            command = [python, str(mlflow_script), step, name, run_id]
            times.append(run(command, menv))
    medians = {step: statistics.median(times) for step, times in direct_times.items()}
    for step, kind in (
        ("register", "register"),
        ("promote staging", "promote"),
        ("promote production", "promote"),
        ("status", "status"),
    ):
        for call in by_step.get(step, []):
            source = f"MLflow direct ({kind} calls) x{args.rounds}"
            rows.append((step, call.seconds, medians[kind], source))

    backed = {r[0] for r in rows}
    native = [c for c in calls if step_name(c.argv) not in backed]
    t_ours = sum(r[1] for r in rows)
    t_tools = sum(r[2] for r in rows)
    t_native = sum(c.seconds for c in native)
    lines = [
        "| step | mltoolkit s | tool's own s | overhead s | tool time from |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, ours_s, tool_s, source in rows:
        lines.append(
            f"| `{name}` | {ours_s:.2f} | {tool_s:.2f} | {ours_s - tool_s:.2f} | {source} |"
        )
    lines.append(
        f"| **tool-backed steps** | **{t_ours:.2f}** | **{t_tools:.2f}** | "
        f"**{t_ours - t_tools:.2f}** | overhead **{100 * (t_ours - t_tools) / t_ours:.1f}%** |"
    )
    native_names = sorted({step_name(c.argv) for c in native})
    t_demo_calls = sum(c.seconds for c in calls)
    all_ours = t_ours + t_native
    lines += [
        "",
        f"- steps with no underlying tool ({len(native)} calls: "
        + ", ".join(f"`{n}`" for n in native_names)
        + f"): {t_native:.2f} s in all",
        f"- counting those as overhead too: {all_ours:.2f} s of mltoolkit against "
        f"{t_tools:.2f} s of tools, overhead {100 * (all_ours - t_tools) / all_ours:.1f}%",
        f"- whole demo ({shlex.join(demo)}, training and data generation included): "
        f"{demo_seconds:.1f} s, of which {len(calls)} mltoolkit calls took {t_demo_calls:.1f} s "
        "(build and validate-data as run in the demo, not the paired medians above)",
        "- per demo call: " + ", ".join(f"`{step_name(c.argv)}` {c.seconds:.2f}" for c in calls),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        header = [
            "",
            f"## Pipeline: card-fraud end to end, mltoolkit vs its tools "
            f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; load average {load} at the end",
            f"- reproduce: `.venv/bin/python bench/pipeline.py --rounds {args.rounds}"
            f"{' --no-fresh' if args.no_fresh else ''} --write`",
            "- method: see the docstring of bench/pipeline.py; target (issue 9): overhead <= 15%",
            "",
        ]
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n".join(header) + "\n" + text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
