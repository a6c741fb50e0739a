"""The promote and approve action/template inputs become one argv (actions/lib/invoke.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "actions" / "lib"))
import invoke

ROOT = Path(__file__).resolve().parents[2]


def env(**values: str) -> dict[str, str]:
    return {"MLTOOLKIT_INPUT_" + k.upper(): v for k, v in values.items()}


BASE = {"model": "card-fraud", "version": "7", "environment": "production"}


def test_promote_with_key_and_audit_log() -> None:
    argv = invoke.promote_argv(env(**BASE, key="keys/promoter.key", audit_log="/mnt/a.jsonl"))
    assert argv == [
        "promote", "card-fraud", "--version", "7", "--to", "production",
        "--key=keys/promoter.key", "--audit-log=/mnt/a.jsonl",
    ]  # fmt: skip


def test_promote_dry_run_needs_no_key() -> None:
    argv = invoke.promote_argv(env(**BASE, dry_run="true", key="k.key"))
    assert argv[-1] == "--dry-run"
    assert "--key=k.key" not in argv


def test_approve_keyless_with_a_comment_that_looks_like_a_flag() -> None:
    argv = invoke.approve_argv(env(**BASE, keyless="true", comment="--force it"))
    assert argv == [
        "approve", "card-fraud", "--version", "7", "--env", "production",
        "--keyless", "--comment=--force it",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("step", "values", "message"),
    [
        ("promote", {**BASE}, "input 'key' is required unless 'dry-run' is true"),
        ("promote", {**BASE, "model": "--help", "key": "k"}, "looks like an option"),
        ("promote", {**BASE, "version": "latest", "key": "k"}, "expected a version number"),
        ("promote", {**BASE, "environment": "", "key": "k"}, "input 'environment' is required"),
        ("approve", {**BASE}, "exactly one of the inputs 'key' and 'keyless: true'"),
        ("approve", {**BASE, "key": "k", "keyless": "true"}, "exactly one of"),
        ("approve", {**BASE, "key": "-k"}, "looks like an option"),
    ],
)
def test_bad_inputs_are_refused(step: str, values: dict[str, str], message: str) -> None:
    with pytest.raises(invoke.InputProblem, match=message):
        invoke.STEPS[step](env(**values))


@pytest.mark.parametrize("step", ["promote", "approve"])
def test_action_passes_every_input_through_env_only(step: str) -> None:
    import yaml

    action = yaml.safe_load((ROOT / "actions" / step / "action.yml").read_text())
    run_step = action["runs"]["steps"][-1]
    assert "${{" not in run_step["run"]
    passed = {k for k in run_step["env"] if k.startswith("MLTOOLKIT_INPUT_")}
    expected = {
        "MLTOOLKIT_INPUT_" + name.upper().replace("-", "_")
        for name in action["inputs"]
        if name not in ("policy", "extras", "cache-dir")
    }
    assert passed == expected


@pytest.mark.parametrize("step", ["promote", "approve"])
def test_gitlab_template_job_and_inputs(step: str) -> None:
    import yaml

    header, jobs = (ROOT / "gitlab-templates" / f"{step}.yml").read_text().split("\n---\n", 1)
    inputs = yaml.safe_load(header)["spec"]["inputs"]
    job = yaml.safe_load(jobs.replace("$[[ inputs.job-prefix ]]", "p"))[f"p-{step}"]
    assert all("$[[" not in line for line in job["script"])
    assert job["environment"]["name"] == "$[[ inputs.environment ]]"
    if step == "promote":
        assert job["resource_group"] == "mltoolkit-promote-$[[ inputs.environment ]]"
    else:
        assert job["when"] == "manual"
    passed = {k for k in job["variables"] if k.startswith("MLTOOLKIT_INPUT_")}
    assert passed == {
        "MLTOOLKIT_INPUT_" + name.upper().replace("-", "_")
        for name in inputs
        if name
        not in (
            "job-prefix", "stage", "job-image", "policy", "extras", "toolkit-dir",
            "toolkit-repository", "toolkit-sha", "cache-dir",
        )
    }  # fmt: skip
