"""How CI inputs become an mltoolkit command line (actions/lib/invoke.py) and how the setup
script guards its inputs and lock files. Fast, offline: no e2e marker."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from e2e_harness import PAYLOAD, ROOT

SETUP = ROOT / "actions" / "lib" / "setup-mltoolkit"


def _load_invoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("invoke", ROOT / "actions" / "lib" / "invoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


invoke = _load_invoke()


def env(**inputs: str) -> dict[str, str]:
    return {f"MLTOOLKIT_INPUT_{k.upper()}": v for k, v in inputs.items()}


def test_full_inputs_become_one_argv_without_a_shell() -> None:
    argv = invoke.build_argv(
        env(
            context="app",
            file="docker/Dockerfile",
            image="127.0.0.1:5000/team/app",
            tags='v1 "release 2"\nlatest',
            build_args="BASE=busybox\n\nNOTE=a b c\n",
            labels=f"org.example.note={PAYLOAD}",
            push="true",
            provenance="prov.json",
        )
    )
    assert argv == [
        "build",
        "--context",
        "app",
        "--image",
        "127.0.0.1:5000/team/app",
        "--file",
        "docker/Dockerfile",
        "--tag",
        "v1",
        "--tag",
        "release 2",
        "--tag",
        "latest",
        "--build-arg",
        "BASE=busybox",
        "--build-arg",
        "NOTE=a b c",
        "--label",
        f"org.example.note={PAYLOAD}",
        "--push",
        "--provenance",
        "prov.json",
    ]


def test_defaults_build_the_current_directory_without_push() -> None:
    assert invoke.build_argv(env(image="r/app")) == ["build", "--context", ".", "--image", "r/app"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"image": ""}, "input 'image' is required"),
        ({"image": "--push"}, "input 'image': '--push' looks like an option"),
        ({"image": "r/app", "tags": "v1 --file=/etc/passwd"}, "input 'tags'"),
        ({"image": "r/app", "tags": 'v1 "unclosed'}, "No closing quotation"),
        ({"image": "r/app", "context": "-x"}, "input 'context'"),
        ({"image": "r/app", "build_args": "JUSTAKEY"}, "input 'build-args' line 1"),
        ({"image": "r/app", "labels": "ok=1\n=v"}, "input 'labels' line 2"),
        ({"image": "r/app", "push": "maybe"}, "input 'push': expected true or false"),
    ],
)
def test_bad_inputs_are_refused_with_the_input_named(inputs: dict[str, str], message: str) -> None:
    with pytest.raises(invoke.InputProblem, match=re.escape(message)):
        invoke.build_argv(env(**inputs))


def test_validate_data_inputs_become_one_argv() -> None:
    argv = invoke.validate_data_argv(
        env(
            suite="suites/tx.yaml",
            data="postgresql://ml@db:5432/wh?table=tx",
            json="result.json",
            junit="",
            spark_master="local[2]",
            attest="r/app@sha256:" + "a" * 64,
            key="cosign.key",
            keyless="false",
        )
    )
    assert argv == [
        "validate-data",
        "--suite",
        "suites/tx.yaml",
        "--data",
        "postgresql://ml@db:5432/wh?table=tx",
        "--json=result.json",
        "--spark-master=local[2]",
        "--attest=r/app@sha256:" + "a" * 64,
        "--key=cosign.key",
    ]
    with pytest.raises(invoke.InputProblem, match="input 'data' is required"):
        invoke.validate_data_argv(env(suite="s.yaml"))
    with pytest.raises(invoke.InputProblem, match="input 'key'"):
        invoke.validate_data_argv(env(suite="s.yaml", data="d.csv", key="--keyless"))


def test_validate_data_engine_input_is_checked_and_passed() -> None:
    argv = invoke.validate_data_argv(env(suite="s.yaml", data="d.parquet", engine="pandas"))
    assert argv == ["validate-data", "--suite", "s.yaml", "--data", "d.parquet", "--engine=pandas"]
    with pytest.raises(invoke.InputProblem, match="input 'engine' must be auto, duckdb or pandas"):
        invoke.validate_data_argv(env(suite="s.yaml", data="d.parquet", engine="spark"))
    action = yaml.safe_load((ROOT / "actions" / "validate-data" / "action.yml").read_text())
    assert action["runs"]["steps"][-1]["env"]["MLTOOLKIT_INPUT_ENGINE"] == "${{ inputs.engine }}"
    inputs, job = _template("validate-data")
    assert inputs["engine"]["options"] == ["auto", "duckdb", "pandas"]
    assert job["variables"]["MLTOOLKIT_INPUT_ENGINE"] == "$[[ inputs.engine ]]"


def test_validate_data_spark_remote_becomes_one_option() -> None:
    for remote in ("sc://spark-connect.internal:15002/;use_ssl=true", "databricks"):
        argv = invoke.validate_data_argv(env(suite="s.yaml", data="spark:/d", spark_remote=remote))
        head = ["validate-data", "--suite", "s.yaml", "--data", "spark:/d"]
        assert argv == [*head, f"--spark-remote={remote}"]
    with pytest.raises(invoke.InputProblem, match="'spark-master' or 'spark-remote', not both"):
        invoke.validate_data_argv(
            env(suite="s.yaml", data="spark:/d", spark_master="local[1]", spark_remote="sc://h")
        )
    with pytest.raises(invoke.InputProblem, match="input 'spark-remote'"):
        invoke.validate_data_argv(env(suite="s.yaml", data="spark:/d", spark_remote="--help"))


@pytest.mark.parametrize(
    "remote", ["sc://h:15002/;use_ssl=true;token=SECRET-42", "sc://u:SECRET-42@h:15002"]
)
def test_a_credential_in_spark_remote_never_reaches_argv_or_output(
    remote: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(invoke.InputProblem, match="SPARK_CONNECT_AUTHENTICATE_TOKEN") as info:
        invoke.validate_data_argv(env(suite="s.yaml", data="spark:/d", spark_remote=remote))
    assert "SECRET-42" not in str(info.value)
    monkeypatch.setenv("RUNNER_DEBUG", "1")
    for name, value in env(suite="s.yaml", data="spark:/d", spark_remote=remote).items():
        monkeypatch.setenv(name, value)
    assert invoke.main(["validate-data"]) == 2
    assert "SECRET-42" not in capsys.readouterr().err


def _template(step: str) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    header, jobs = (ROOT / "gitlab-templates" / f"{step}.yml").read_text().split("\n---\n", 1)
    inputs = yaml.safe_load(header)["spec"]["inputs"]
    job = yaml.safe_load(jobs.replace("$[[ inputs.job-prefix ]]", "p"))[f"p-{step}"]
    return inputs, job


def test_validate_data_action_and_template_pass_spark_inputs_through_env_only() -> None:
    action = yaml.safe_load((ROOT / "actions" / "validate-data" / "action.yml").read_text())
    run_step = action["runs"]["steps"][-1]
    assert "${{" not in run_step["run"]
    for name in ("spark-master", "spark-remote"):
        variable = "MLTOOLKIT_INPUT_" + name.upper().replace("-", "_")
        assert action["inputs"][name]["default"] == ""
        assert run_step["env"][variable] == f"${{{{ inputs.{name} }}}}"
        inputs, job = _template("validate-data")
        assert inputs[name]["default"] == ""
        assert job["variables"][variable] == f"$[[ inputs.{name} ]]"
    # Inputs are not secret: the token's place is named where users read about the input.
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" in action["inputs"]["spark-remote"]["description"]
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" in inputs["spark-remote"]["description"]


@pytest.mark.parametrize(
    ("remote", "accepted"),
    [
        ("", True),
        ("databricks", True),
        ("sc://spark-connect.internal:15002/;use_ssl=true", True),
        ("sc://u:pw@h:15002", False),
        ("sc://h 15002", False),
        ("--spark-master=local", False),
        ("spark://m:7077", False),
    ],
)
def test_gitlab_spark_remote_input_regex(remote: str, accepted: bool) -> None:
    # GitLab checks an input's `regex` (RE2) before the job exists; this one has no RE2-only syntax.
    inputs, _ = _template("validate-data")
    assert (re.search(inputs["spark-remote"]["regex"], remote) is not None) == accepted


def test_main_reports_bad_input_as_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLTOOLKIT_INPUT_IMAGE", raising=False)
    assert invoke.main(["build"]) == 2
    assert "input 'image' is required" in capsys.readouterr().err
    assert invoke.main(["nonsense"]) == 2


def _setup(tmp_path: Path, extras: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SETUP)],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "MLTOOLKIT_EXTRAS": extras,
            "MLTOOLKIT_SETUP_CACHE": str(tmp_path / "cache"),
        },
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ("nosuchextra", "no lock file requirements/nosuchextra.txt; allowed sets: core"),
        ("--index-url=http://evil", "is not an extra name"),
        ("a;b", "is not an extra name"),
    ],
)
def test_setup_refuses_extras_outside_the_allow_list(
    tmp_path: Path, extras: str, message: str
) -> None:
    done = _setup(tmp_path, extras)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def _pinned(lock: Path) -> dict[str, str]:
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", lock.read_text(), re.MULTILINE):
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


LOCKS = sorted((ROOT / "requirements").glob("*.txt"))


def test_core_is_locked() -> None:
    assert ROOT / "requirements" / "core.txt" in LOCKS


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.stem)
def test_each_lock_pins_its_dependencies_and_the_build_backend_with_hashes(lock: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = [] if lock.stem == "core" else lock.stem.split("+")
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for extra in extras:
        wanted += project["project"]["optional-dependencies"][extra]
    pins = _pinned(lock)
    for requirement in wanted:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in {lock.name}; run scripts/lock-requirements"
    # Every pinned requirement carries at least one hash, so pip runs in --require-hashes mode.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 1)[1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
