"""Benchmark: the card-fraud pipeline end to end, mltoolkit's wall time against its tools' own time.

    .venv/bin/python bench/pipeline.py [--rounds 3] [--no-fresh] [--baseline-gc default|bulk]
                                       [--write]

It runs scripts/demo (``--fresh`` unless --no-fresh: new keys, MLflow store and audit log; pip,
trivy and image caches kept) in its own state directory, .mltoolkit/bench-pipeline, with two
timing shims and no other change:

- ``mltoolkit``: every invocation's wall and CPU time (user + system of the process tree) and
  argv (the demo's ``--help`` probes are left out);
- ``trivy`` (through MLTOOLKIT_TRIVY): every trivy run inside ``mltoolkit sbom`` / ``scan``, so
  trivy's own time is measured inside the very steps that use it (``--version`` probes are not
  counted as trivy time: mltoolkit chose to make them).

Then, in the same run and on the same engine, registry and files, it measures the other tools
directly, alternating with the mltoolkit step each round (--rounds, median) where the step can
be repeated, so that both see the same caches and the same load:

- build and push: ``mltoolkit build`` with the demo's argv against ``docker build``
  (DOCKER_BUILDKIT=0, the engine's classic builder, which mltoolkit's SDK calls use too) with the
  same context, build args, labels and tag, then ``docker push``; the CPU time of both sides
  includes the engine's and the registry's (their processes' CPU during the run);
- data validation: ``mltoolkit validate-data`` against a script that runs the same suite on the
  same CSV with Great Expectations directly (ephemeral context, pandas);
- the model's digest: ``mltoolkit model-digest`` against a script hashing the same directory
  with model-signing's hashing API (the OpenSSF library mltoolkit hashes and signs models with);
- MLflow: every step that opens MLflow (register, promote, approve, status, audit, report)
  against a script making the MlflowClient calls that step makes (MLFLOW_DIRECT lists them),
  one process each as in the pipeline, on a copy of the run's SQLite store; for register, the
  script also signs the downloaded model with model-signing and the same key, as register does.
  ``register``, ``promote`` and ``approve`` write (a version, an alias, a signed approval): each
  round takes a new model name through the demo's chain (register, staging, production
  refused, two approvals, production) once with mltoolkit and the demo's argv and once with the
  scripts, alternating which goes first, and each position is compared by its medians.
  ``status``, ``audit`` and ``report`` only read: they are run again, paired with their scripts,
  on that copy.

Overhead = (mltoolkit's wall time - the tools' own time) / mltoolkit's wall time. The headline
(the issue's target, <= 15%) is over every mltoolkit call of the pipeline: steps with no
underlying tool (keys, policy, sign, attest: mltoolkit's own work) count as
overhead entirely, and so does whatever a tool-backed step does besides its tool (signing and
pushing evidence, verifying signatures, the audit log, the model's digest).
The figure over the tool-backed steps alone is given too. Training and data generation are
the example's code, not mltoolkit's. --write appends a section to bench/RESULTS.md.

The direct scripts are plain Python by default, as a user's own would be. mltoolkit imports GX
and MLflow with the collector off and freezes what they created (mltoolkit/heap.py), which saves
it 0.3-0.4 s per step; ``--baseline-gc bulk`` gives the scripts the same treatment, so that the
figure is then mltoolkit's overhead with none of that saving counted in its favour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
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
SERVICE_PIDS = ("dockerd.pid", "registry.pid")
# The steps that write to MLflow (a version, an alias, a signed approval): re-run per round
# under a new model name rather than on the demo's own model.
WRITE_STEPS = ("register", "promote staging", "promote production", "approve")

# `times` (a builtin: no fork) gives the CPU time of the shell's waited-for children.
MLTOOLKIT_SHIM = """#!/usr/bin/env bash
start=$EPOCHREALTIME
rc=0
{real} "$@" || rc=$?
end=$EPOCHREALTIME
times >"{log}.$$"
cpu=$(tail -n 1 "{log}.$$")
rm -f "{log}.$$"
{python} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$start" "$end" "$rc" "$cpu" "$@" \
  >>{log}
exit $rc
"""

TRIVY_SHIM = """#!/usr/bin/env bash
start=$EPOCHREALTIME
rc=0
{real} "$@" || rc=$?
end=$EPOCHREALTIME
times >"{log}.$$"
cpu=$(tail -n 1 "{log}.$$")
rm -f "{log}.$$"
printf '%s %s %s %s %s\\n' "$start" "$end" "$rc" "$1" "$cpu" >>{log}
exit $rc
"""

# Every direct script starts with this line. mltoolkit's CLI freezes the heap at exit
# (mltoolkit/cli/main.py): the interpreter's last garbage collection then skips the objects that
# MLflow, GX or pandas left behind (about 0.8 s after `import mlflow`). That walk is Python's
# teardown, not the tool's work, so the scripts skip it too and only the tools' time remains.
SKIP_FINAL_GC = "import atexit, gc; atexit.register(gc.freeze)\n"
# mltoolkit imports GX and MLflow (with MLflow's store) with the collector off and then freezes
# what they created (mltoolkit/heap.py). The scripts are plain by default, as a user's own script
# would be; with --baseline-gc bulk they do the same around the same imports, and the figure
# is then mltoolkit's overhead with that saving credited to the tools as well.
IMPORTS_DONE = "# imports done\n"
BULK_START = "gc.disable()\n"
BULK_END = "gc.freeze(); gc.enable()\n"

GX_DIRECT = (
    SKIP_FINAL_GC
    + """
import sys, time, yaml
import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuite
# imports done
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
)

MODEL_SIGNING_DIRECT = (
    SKIP_FINAL_GC
    + """
import sys
from pathlib import Path
from model_signing import hashing
config = hashing.Config().use_file_serialization(hashing_algorithm="sha256")
config = config.set_ignored_paths(paths=[], ignore_git_paths=False)
print(len(list(config.hash(Path(sys.argv[1])).resource_descriptors())))
"""
)

# The demo's key as the unencrypted PEM model-signing signs with (mltoolkit writes the same
# to a 0600 temporary file inside `register`); here it lives in the bench's work directory.
EXPORT_PEM = """
import os, sys
from cryptography.hazmat.primitives import serialization
from mltoolkit.signing.keys import load_signer
key = load_signer(sys.argv[1]).key
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "wb") as out:
    out.write(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
"""

# The MlflowClient calls each mltoolkit step makes (traced on the demo: MlflowClient's methods,
# mlflow.register_model and mlflow.artifacts wrapped, one run per step), in the same order; one
# process per step as in the pipeline.
MLFLOW_DIRECT = (
    SKIP_FINAL_GC
    + """
import json, sys
from mlflow import MlflowClient
step, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
client = MlflowClient()
# imports done

def read_version():
    mv = client.get_model_version(name, version)
    client.get_registered_model(name)
    client.get_run(mv.run_id)
    return mv

if step == "register":
    import shutil, tempfile
    from pathlib import Path
    import mlflow
    from model_signing import hashing, signing
    run_id, tags, pem = sys.argv[4], json.load(open(sys.argv[5])), Path(sys.argv[6])
    source = f"runs:/{run_id}/model"
    found = (
        f"name = '{name}' and tags.`mltoolkit.image.digest` = '{tags['mltoolkit.image.digest']}'"
        f" and tags.`mltoolkit.source` = '{source}'"
    )
    client.search_model_versions(found, max_results=1000)
    run = client.get_run(run_id)
    mlflow.artifacts.list_artifacts(artifact_uri=f"{run.info.artifact_uri}/model")
    logged = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' and name = 'model'",
    )
    tmp = Path(tempfile.mkdtemp())
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=logged[-1].artifact_location, dst_path=str(tmp / "model")
    )
    # register signs the model files with model-signing (the same key, hashing and format)
    config = signing.Config()
    config.set_hashing_config(
        hashing.Config()
        .use_file_serialization(hashing_algorithm="sha256")
        .set_ignored_paths(paths=[], ignore_git_paths=False)
    )
    config.use_elliptic_key_signer(private_key=pem).sign(Path(local), tmp / "model.sig")
    client.get_run(run_id)
    mv = mlflow.register_model(source, name, tags=tags)
    client.get_model_version(name, mv.version)
    client.search_model_versions(found, max_results=1000)
    shutil.rmtree(tmp)
elif step == "promote":
    mv = read_version()
    client.get_registered_model(name)  # the compare-and-set re-read under the lock
    client.set_registered_model_alias(name, sys.argv[4], mv.version)
    client.set_model_version_tag(name, mv.version, "mltoolkit.promotion." + sys.argv[4], "{}")
elif step in ("refused", "approve"):
    read_version()
elif step == "status":
    client.get_registered_model(name)
    client.search_model_versions(f"name = '{name}'", max_results=1000)
elif step == "audit":
    client.get_registered_model(name)
elif step == "report":
    client.get_registered_model(name)
    read_version()
else:
    sys.exit(f"unknown step {step}")
"""
)


@dataclass
class Call:
    """One recorded mltoolkit invocation."""

    argv: list[str]
    seconds: float
    rc: int
    cpu: float
    trivy_seconds: float = 0.0
    trivy_cpu: float = 0.0


@dataclass
class Row:
    """One step against its tools: wall and CPU seconds of each side."""

    step: str
    ours: float
    tool: float
    ours_cpu: float
    tool_cpu: float
    source: str


def bash_times(text: str) -> float:
    """User + system seconds from a line of bash's ``times`` (``0m1.250s 0m0.031s``)."""
    total = 0.0
    for part in text.split():
        minutes, _, seconds = part.rstrip("s").partition("m")
        total += 60 * float(minutes) + float(seconds)
    return total


def service_cpu() -> float:
    """CPU seconds the Docker engine and the registry have used so far (0 when unknown)."""
    run_dir = Path(os.environ.get("MLTOOLKIT_RUN_DIR", "/var/tmp/mltoolkit/run"))
    total = 0.0
    for name in SERVICE_PIDS:
        try:
            pid = (run_dir / name).read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def children_cpu() -> float:
    """User + system seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_capture(
    command: list[str], env: dict[str, str], services: bool = False, ok: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """Run ``command`` to completion: wall and CPU seconds and its standard output.

    With ``services``, the CPU the engine and the registry used meanwhile is added. An exit
    code outside ``ok`` stops the bench with the command's output.
    """
    cpu0, svc0, start = children_cpu(), service_cpu() if services else 0.0, time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    cpu = children_cpu() - cpu0 + ((service_cpu() - svc0) if services else 0.0)
    if proc.returncode not in ok:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(command)}\n{proc.stdout}{proc.stderr}")
    return seconds, cpu, proc.stdout


def run(command: list[str], env: dict[str, str], services: bool = False) -> tuple[float, float]:
    """Run ``command`` to completion (output discarded unless it fails): wall and CPU seconds."""
    seconds, cpu, _ = run_capture(command, env, services)
    return seconds, cpu


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
    spans = []
    for line in (work / "calls.log").read_text().splitlines():
        start, end, rc, cpu, *argv = json.loads(line)
        calls.append(Call(argv, float(end) - float(start), int(rc), bash_times(cpu)))
        spans.append((float(start), float(end)))
    trivy_log = work / "trivy.log"
    for line in trivy_log.read_text().splitlines() if trivy_log.exists() else []:
        t0, t1, _rc, first, *cpu = line.split()
        if first == "--version":
            continue
        for call, (c0, c1) in zip(calls, spans, strict=True):
            if c0 <= float(t0) <= c1:
                call.trivy_seconds += float(t1) - float(t0)
                call.trivy_cpu += bash_times(" ".join(cpu))
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


def renamed(argv: list[str], name: str, version: str) -> list[str]:
    """A register/promote/approve argv of the demo for model ``name`` (and ``version``)."""
    out = list(argv)
    if "register" in out:
        out[out.index("--name") + 1] = name
        return out
    command = next(i for i, a in enumerate(out) if a in ("promote", "approve"))
    out[command + 1] = name
    out[out.index("--version") + 1] = version
    return out


def option(argv: list[str], flag: str) -> list[str]:
    """Every value of ``flag`` in ``argv``."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def paired(
    rounds: int,
    ours: list[str],
    direct: list[list[str]],
    env: dict[str, str],
    services: bool = False,
) -> tuple[float, float, float, float]:
    """Median wall and CPU seconds of ``ours`` and of the ``direct`` commands (summed),
    alternating: (ours wall, direct wall, ours CPU, direct CPU)."""
    ours_t: list[tuple[float, float]] = []
    direct_t: list[tuple[float, float]] = []
    for round_no in range(rounds):
        for which in [0, 1] if round_no % 2 == 0 else [1, 0]:
            if which == 0:
                ours_t.append(run(ours, env, services))
            else:
                runs = [run(c, env, services) for c in direct]
                direct_t.append((sum(r[0] for r in runs), sum(r[1] for r in runs)))
    med = statistics.median
    return (
        med(t[0] for t in ours_t),
        med(t[0] for t in direct_t),
        med(t[1] for t in ours_t),
        med(t[1] for t in direct_t),
    )


def direct_script(text: str, baseline_gc: str) -> str:
    """A direct script as run: plain, or with its imports in bulk as mltoolkit does them."""
    if baseline_gc == "default" or IMPORTS_DONE not in text:
        return text
    head, _, tail = text.partition("\n")
    return f"{head}\n{BULK_START}{tail}".replace(IMPORTS_DONE, BULK_END)


def source_date_epoch() -> str:
    """The build date scripts/demo gives its build: the last commit's time."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "0"


def percent(ours: float, tools: float) -> str:
    """The overhead of ``ours`` over ``tools`` as a share of ``ours``."""
    return f"{100 * (ours - tools) / ours:.1f}%" if ours else "-"


def with_password(argv: list[str], env: dict[str, str]) -> dict[str, str]:
    """``env`` with the password of argv's ``--key`` (the demo keeps it next to the key)."""
    keys = option(argv, "--key")
    if not keys:
        return env
    password = Path(keys[0]).with_suffix(".password").read_text().strip()
    return {**env, "MLTOOLKIT_KEY_PASSWORD": password}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each paired comparison")
    parser.add_argument("--no-fresh", action="store_true", help="reuse the state of the last run")
    parser.add_argument("--write", action="store_true", help="append a section to RESULTS.md")
    parser.add_argument(
        "--baseline-gc",
        choices=("default", "bulk"),
        default="default",
        help="the direct scripts' collector around their imports (see IMPORTS_DONE)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()

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
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        MLTOOLKIT_POLICY=str(STATE / "mltoolkit.yaml"),
        MLTOOLKIT_AUDIT_LOG=str(work / "audit.jsonl"),
        MLTOOLKIT_PLATFORM="local",
        DOCKER_BUILDKIT="0",
        # As the demo sets it: build dates from the last commit, so a rebuild is a cache hit.
        SOURCE_DATE_EPOCH=source_date_epoch(),
    )
    python = str(VENV / "bin" / "python")
    mlt = str(VENV / "bin" / "mltoolkit")
    rows: list[Row] = []
    print("measuring the tools directly ...", file=sys.stderr)

    for call in calls:
        if call.trivy_seconds:
            rows.append(
                Row(
                    step_name(call.argv),
                    call.seconds,
                    call.trivy_seconds,
                    call.cpu,
                    call.trivy_cpu,
                    "trivy, inside the step",
                )
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
    measured = paired(
        args.rounds,
        [mlt, *bargv],
        [docker_build, ["docker", "push", f"{image}:{tag}"]],
        env,
        services=True,
    )
    rows.append(Row("build", *measured, f"docker build + push, paired x{args.rounds}"))

    script = work / "gx_direct.py"
    script.write_text(direct_script(GX_DIRECT, args.baseline_gc))
    for call in by_step.get("validate-data", []) + by_step.get("validate-data --attest", []):
        vargv = call.argv
        gx = [python, str(script), option(vargv, "--suite")[0], option(vargv, "--data")[0]]
        measured = paired(args.rounds, [mlt, *vargv], [gx], with_password(vargv, env))
        rows.append(Row(step_name(vargv), *measured, f"GX direct, paired x{args.rounds}"))

    for call in by_step.get("model-digest", []):
        script = work / "model_signing_direct.py"
        script.write_text(MODEL_SIGNING_DIRECT)
        direct = [python, str(script), call.argv[-1]]
        measured = paired(args.rounds, [mlt, *call.argv], [direct], env)
        rows.append(Row("model-digest", *measured, f"model-signing direct, paired x{args.rounds}"))

    rows += mlflow_rows(args.rounds, calls, by_step, work, env, args.baseline_gc)

    backed = {r.step for r in rows}
    native = [c for c in calls if step_name(c.argv) not in backed]
    text = render(rows, native, calls, demo, demo_seconds)
    print(text)
    if args.write:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        before = ", ".join(f"{x:.2f}" for x in load_before)
        header = [
            "",
            f"## Pipeline: card-fraud end to end, mltoolkit vs its tools "
            f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; load average {before} before the run, "
            f"{load} at the end",
            f"- reproduce: `.venv/bin/python bench/pipeline.py --rounds {args.rounds}"
            f"{' --no-fresh' if args.no_fresh else ''} --baseline-gc {args.baseline_gc} --write`",
            "- method: see the docstring of bench/pipeline.py; target (issue 9): overhead <= 15%"
            " over the whole pipeline",
            "",
        ]
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n".join(header) + "\n" + text + "\n")
    shutil.rmtree(work, ignore_errors=True)


def mlflow_rows(
    rounds: int,
    calls_in_order: list[Call],
    by_step: dict[str, list[Call]],
    work: Path,
    env: dict[str, str],
    baseline_gc: str,
) -> list[Row]:
    """The MLflow steps against MLFLOW_DIRECT, on a copy of the run's store and audit log."""
    python = str(VENV / "bin" / "python")
    mlt = str(VENV / "bin" / "mltoolkit")
    store = work / "mlflow"
    store.mkdir()
    shutil.copy(STATE / "mlflow.db", store / "mlflow.db")
    shutil.copy(STATE / "audit.jsonl", store / "audit.jsonl")
    menv = {
        **env,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "MLTOOLKIT_AUDIT_LOG": str(store / "audit.jsonl"),
    }
    script = work / "mlflow_direct.py"
    script.write_text(direct_script(MLFLOW_DIRECT, baseline_gc))
    registered = json.loads((STATE / "register.json").read_text())
    tags = work / "tags.json"
    tags.write_text(json.dumps(registered["tags"]))
    run_id = registered["tags"]["mltoolkit.source"].split("/")[1]
    pem = work / "ci.pem"
    (register_call,) = by_step["register"]
    subprocess.run(
        [python, "-c", EXPORT_PEM, option(register_call.argv, "--key")[0], str(pem)],
        env=with_password(register_call.argv, env),
        check=True,
    )

    # The writing steps: per round, a new model taken through the demo's chain (register,
    # promote to staging, production refused, two approvals, production) twice, once by
    # mltoolkit with the demo's argv under another name and once by the direct script, the
    # order alternating by round, both on the same store copy. Each position in the chain is
    # compared by its median over the rounds: the demo's single calls are shown for reference.
    chain = [c for c in calls_in_order if step_name(c.argv) in WRITE_STEPS]
    ours_t: list[list[tuple[float, float]]] = [[] for _ in chain]
    direct_t: list[list[tuple[float, float]]] = [[] for _ in chain]
    for round_no in range(rounds):
        for side in ("ours", "direct") if round_no % 2 == 0 else ("direct", "ours"):
            name = f"bench-{side}-{round_no}"
            version = "1"
            for i, call in enumerate(chain):
                step = step_name(call.argv)
                refused = step == "promote production" and call.rc == 1
                if side == "direct":
                    kind = "refused" if refused else step.split()[0]
                    extra: list[str] = []
                    if kind == "register":
                        extra = [run_id, str(tags), str(pem)]
                    elif kind == "promote":
                        extra = [step.split()[1]]
                    direct = [python, str(script), kind, name, "1", *extra]
                    direct_t[i].append(run(direct, menv))
                    continue
                argv = renamed(call.argv, name, version)
                seconds, cpu, out = run_capture(
                    [mlt, *argv], with_password(argv, menv), ok=(1,) if refused else (0,)
                )
                if step == "register":
                    version = str(json.loads(out[out.index("{") :])["version"])
                ours_t[i].append((seconds, cpu))
    med = statistics.median
    rows = []
    for i, call in enumerate(chain):
        step = step_name(call.argv)
        shown = step + (" (refused)" if step == "promote production" and call.rc == 1 else "")
        rows.append(
            Row(
                shown,
                med(t[0] for t in ours_t[i]),
                med(t[0] for t in direct_t[i]),
                med(t[1] for t in ours_t[i]),
                med(t[1] for t in direct_t[i]),
                f"MLflow direct, paired x{rounds} (demo's own call {call.seconds:.2f})",
            )
        )

    # The reading steps: run again, each paired with its script.
    for step in ("status", "audit", "report"):
        for call in by_step.get(step, []):
            argv = list(call.argv)
            if step == "report":
                argv[argv.index("--html") + 1] = str(work / "report.html")
            model = argv[argv.index(step) + 1]
            version = (option(argv, "--version") or ["1"])[0]
            direct = [python, str(script), step, model, version]
            measured = paired(rounds, [mlt, *argv], [direct], menv)
            rows.append(Row(step, *measured, f"MLflow direct ({step} calls), paired x{rounds}"))
    return rows


def render(
    rows: list[Row], native: list[Call], calls: list[Call], demo: list[str], demo_seconds: float
) -> str:
    """The markdown table and the summary lines."""
    lines = [
        "| step | mltoolkit s | tool's own s | overhead s | CPU mltoolkit s | CPU tool s "
        "| tool time from |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| `{r.step}` | {r.ours:.2f} | {r.tool:.2f} | {r.ours - r.tool:.2f} "
            f"| {r.ours_cpu:.2f} | {r.tool_cpu:.2f} | {r.source} |"
        )
    for c in native:
        lines.append(
            f"| `{step_name(c.argv)}` | {c.seconds:.2f} | 0 | {c.seconds:.2f} | {c.cpu:.2f} | 0 "
            "| no underlying tool: all overhead |"
        )
    t_ours = sum(r.ours for r in rows)
    t_tools = sum(r.tool for r in rows)
    c_ours = sum(r.ours_cpu for r in rows)
    c_tools = sum(r.tool_cpu for r in rows)
    all_ours = t_ours + sum(c.seconds for c in native)
    all_cpu = c_ours + sum(c.cpu for c in native)
    lines.append(
        f"| **whole pipeline ({len(rows) + len(native)} calls)** | **{all_ours:.2f}** "
        f"| **{t_tools:.2f}** | **{all_ours - t_tools:.2f}** | **{all_cpu:.2f}** "
        f"| **{c_tools:.2f}** | overhead **{percent(all_ours, t_tools)}** wall, "
        f"{percent(all_cpu, c_tools)} CPU |"
    )
    t_calls = sum(c.seconds for c in calls)
    lines += [
        "",
        f"- **whole pipeline**: {all_ours:.2f} s of mltoolkit against {t_tools:.2f} s of its "
        f"tools' own time: overhead **{percent(all_ours, t_tools)}** of wall time "
        f"({percent(all_cpu, c_tools)} of CPU time: {all_cpu:.2f} s against {c_tools:.2f} s)",
        f"- tool-backed steps only ({len(rows)} calls): {t_ours:.2f} s against {t_tools:.2f} s, "
        f"overhead {percent(t_ours, t_tools)} wall, {percent(c_ours, c_tools)} CPU",
        f"- whole demo ({shlex.join(demo)}, training and data generation included): "
        f"{demo_seconds:.1f} s, of which {len(calls)} mltoolkit calls took {t_calls:.1f} s "
        "(as run in the demo, not the paired medians above)",
        "- per demo call (wall s): "
        + ", ".join(f"`{step_name(c.argv)}` {c.seconds:.2f}" for c in calls),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
