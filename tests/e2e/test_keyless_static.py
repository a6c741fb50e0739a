"""Keyless signing in the reusable workflow and the pipeline template, checked without a runner:
who holds `id-token: write`, which path passes `--keyless`, and the template's signer block run
in a real shell for each mode (the act and gitlab-ci-local runs are in test_example_keyless.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_harness import ROOT

pytestmark = pytest.mark.e2e

REUSABLE = ROOT / ".github" / "workflows" / "ml-delivery.yml"
PIPELINE = ROOT / "gitlab-templates" / "pipeline.yml"
SIGNER_OUTPUT = "${{ steps.signer.outputs.sign }}"
# The steps that sign: each takes its signer from the Signer step, never spells one.
SIGNING_STEPS = [
    "SBOM, attested",
    "Scan, attested",
    "Data validation, attested on the image",
    "Sign and attest the provenance",
    "Register the model version",
]


def _workflow() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(REUSABLE.read_text())
    return doc


def _step(job: dict[str, Any], name: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if s.get("name") == name or s.get("id") == name]
    assert len(steps) == 1, f"no single step {name!r}"
    return steps[0]


def test_only_the_keyless_job_may_request_an_oidc_token() -> None:
    jobs = _workflow()["jobs"]
    holders = {name for name, job in jobs.items() if "id-token" in job["permissions"]}
    assert holders == {"deliver-keyless"}
    assert jobs["deliver-keyless"]["permissions"]["id-token"] == "write"
    assert "signing == 'keyless'" in jobs["deliver-keyless"]["if"]
    assert "signing != 'keyless'" in jobs["deliver"]["if"]
    # One deliver job per mode, doing the same thing: only the permissions and the name differ.
    for key in ("steps", "env", "outputs", "concurrency", "runs-on", "timeout-minutes"):
        assert jobs["deliver"][key] == jobs["deliver-keyless"][key], key


def test_the_key_path_never_sees_keyless_and_the_keyless_path_never_sees_the_key() -> None:
    job = _workflow()["jobs"]["deliver"]
    signing_steps = [s for s in job["steps"] if '"$SIGN"' in s.get("run", "")]
    assert [s["name"] for s in signing_steps] == SIGNING_STEPS
    for step in job["steps"]:
        if step not in signing_steps and step.get("id") != "signer":
            assert not re.search(r"--key|--attest", step.get("run", "")), step.get("name")
    for step in signing_steps:
        assert step["env"]["SIGN"] == SIGNER_OUTPUT, step["name"]
        assert '"$SIGN"' in step["run"] and "--key" not in step["run"], step["name"]
        assert "--keyless" not in step["run"], step["name"]
        password = step["env"]["MLTOOLKIT_KEY_PASSWORD"]
        assert password == "${{ inputs.signing == 'key' && secrets.ci-key-password || '' }}"
    signer = _step(job, "signer")
    assert signer["env"]["CI_KEY"] == "${{ inputs.signing == 'key' && secrets.ci-key || '' }}"
    text = REUSABLE.read_text()
    assert text.count("--keyless") == 1, "--keyless is spelled outside the Signer step"


def _run_signer(env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    script = _step(_workflow()["jobs"]["deliver"], "signer")["run"]
    output = tmp_path / "github_output"
    output.write_text("")
    done = subprocess.run(
        ["bash", "-eEuo", "pipefail", "-c", script],
        env={"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output)}
        | env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, output.read_text(), done.stdout + done.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SIGNING": "keyless", "KEY_URI": "", "CI_KEY": ""}, "sign=--keyless\n"),
        ({"SIGNING": "key", "KEY_URI": "awskms:///alias/ci", "CI_KEY": ""}, "sign=--key=awskms:"),
        ({"SIGNING": "key", "KEY_URI": "", "CI_KEY": "PEM"}, "sign=--key=/"),
    ],
)
def test_the_signer_step_picks_one_signer(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    code, output, _ = _run_signer(env, tmp_path)
    assert code == 0
    assert output.startswith(expected)
    if env["CI_KEY"]:
        assert (tmp_path / "mltoolkit-keys" / "ci.key").read_text() == "PEM\n"
    else:
        assert not (tmp_path / "mltoolkit-keys").exists()


def test_the_signer_step_without_a_key_says_what_to_set(tmp_path: Path) -> None:
    code, output, log = _run_signer({"SIGNING": "key", "KEY_URI": "", "CI_KEY": ""}, tmp_path)
    assert code == 2 and output == ""
    assert "::error::set the ci-key secret (or the ci-key-uri input, or signing: keyless)" in log


def test_keyless_installs_environments_that_hold_sigstore() -> None:
    setup = _step(_workflow()["jobs"]["deliver"], "setup")["run"]
    assert 'keyless) signer=",keyless"' in setup
    # The mlflow set is used as it is: sigstore comes with model-signing there.
    for lock in ("data+keyless", "keyless+scan", "mlflow"):
        text = (ROOT / "requirements" / f"{lock}.txt").read_text()
        assert re.search(r"^sigstore==", text, re.MULTILINE), f"no sigstore in {lock}.txt"


def test_promotions_stay_key_signed_and_say_so_without_a_key() -> None:
    jobs = _workflow()["jobs"]
    for name in ("promote-staging", "promote-production"):
        script = _step(jobs[name], "Promote through the gates")["run"]
        assert "--keyless" not in script
        assert "a promotion signs its record with a key (also with signing: keyless)" in script
        assert set(jobs[name]["needs"]) >= {"deliver", "deliver-keyless"}
        assert "needs.deliver-keyless.outputs.version" in jobs[name]["env"]["VERSION"]


# --- GitLab: the pipeline template ----------------------------------------------------------


def _template() -> tuple[dict[str, Any], dict[str, Any]]:
    spec, jobs = yaml.safe_load_all(PIPELINE.read_text())
    return spec["spec"]["inputs"], jobs


def test_the_template_offers_key_or_keyless_and_declares_no_token() -> None:
    inputs, jobs = _template()
    assert inputs["signing"]["options"] == ["key", "keyless"]
    assert inputs["signing"]["default"] == "key"
    for name, job in jobs.items():
        assert "id_tokens" not in job, f"{name}: an included file cannot declare id_tokens"
        expected = "promotion" if "promote" in name else "evidence"
        assert job["variables"]["PIPELINE_SIGNS"] == expected, name


def _run_gitlab_signer(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    _, jobs = _template()
    block = next(
        line
        for line in jobs["$[[ inputs.job-prefix ]]-build"]["before_script"]
        if "PIPELINE_SIGNS" in line
    )
    # The job's shell: POSIX sh, as in the python image (dash), and GitLab's own variables.
    script = f'{block}\necho "SIGN=$SIGN WITH_SIGNER=$WITH_SIGNER"'
    base = {"PATH": "/usr/bin:/bin", "CI_JOB_NAME": "mltoolkit-build", "PIPELINE_KEY": "/k.key"}
    return subprocess.run(
        ["sh", "-eu", "-c", script],
        env=base | variables,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"PIPELINE_SIGNING": "keyless", "PIPELINE_SIGNS": "evidence", "SIGSTORE_ID_TOKEN": "t"},
            "SIGN=--keyless WITH_SIGNER=,keyless",
        ),
        (
            {"PIPELINE_SIGNING": "keyless", "PIPELINE_SIGNS": "promotion"},
            "SIGN=--key=/k.key WITH_SIGNER=",
        ),
        (
            {"PIPELINE_SIGNING": "key", "PIPELINE_SIGNS": "evidence", "SIGSTORE_ID_TOKEN": "t"},
            "SIGN=--key=/k.key WITH_SIGNER=",
        ),
    ],
)
def test_the_template_signer_block_picks_one_signer(
    variables: dict[str, str], expected: str
) -> None:
    done = _run_gitlab_signer(variables)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_the_template_without_a_token_fails_with_one_line() -> None:
    done = _run_gitlab_signer({"PIPELINE_SIGNING": "keyless", "PIPELINE_SIGNS": "evidence"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: signing: keyless needs SIGSTORE_ID_TOKEN: add 'id_tokens: {SIGSTORE_ID_TOKEN: "
        "{aud: sigstore}}' to the job mltoolkit-build in your .gitlab-ci.yml (an included file "
        "cannot declare it)"
    ]


def test_the_template_without_a_key_names_the_promotions() -> None:
    done = _run_gitlab_signer(
        {"PIPELINE_SIGNING": "keyless", "PIPELINE_SIGNS": "promotion", "PIPELINE_KEY": ""}
    )
    assert done.returncode == 2
    assert "promotions sign with it also under signing: keyless" in done.stderr


# --- The step actions and templates that can sign keylessly --------------------------------

STEP_SIGNERS = ("sign", "attest", "sbom", "scan")


def _lock_of(extras: str) -> Path:
    # setup-mltoolkit's own rule: the extras sorted, joined with '+'.
    names = sorted({e for e in extras.replace(",", " ").split() if e}) or ["core"]
    return ROOT / "requirements" / f"{'+'.join(names)}.txt"


def _extras_chosen(script: str, shell: list[str], env: dict[str, str], tmp_path: Path) -> str:
    # A stand-in installer that only reports the extras it was asked for (the real one, and
    # its lock files, are exercised by test_step_inputs.py and the act runs).
    (tmp_path / "action").mkdir(exist_ok=True)
    for lib in (tmp_path / "lib", tmp_path / "actions" / "lib"):  # action and template paths
        lib.mkdir(parents=True, exist_ok=True)
        installer = lib / "setup-mltoolkit"
        installer.write_text('#!/bin/sh\necho "${MLTOOLKIT_EXTRAS:-}"\n')
        installer.chmod(0o755)
    output = tmp_path / "github_output"
    output.write_text("")
    base = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_OUTPUT": str(output),
        "MLTOOLKIT_ACTION_PATH": str(tmp_path / "action"),
        "MLTOOLKIT_SOURCE": str(tmp_path),
    }
    done = subprocess.run(
        [*shell, script], env=base | env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    reported = output.read_text() if "GITHUB_OUTPUT" in script else f"bin={done.stdout}"
    assert reported.startswith("bin="), reported
    return reported.removeprefix("bin=").strip()


@pytest.mark.parametrize("name", STEP_SIGNERS)
@pytest.mark.parametrize("keyless", ["true", "false"])
def test_a_keyless_step_action_installs_sigstore(name: str, keyless: str, tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text())
    setup = next(s for s in action["runs"]["steps"] if s.get("id") == "setup")
    env = {k: v for k, v in setup["env"].items() if "${{" not in str(v)} | {"KEYLESS": keyless}
    extras = _extras_chosen(setup["run"], ["bash", "-eEuo", "pipefail", "-c"], env, tmp_path)
    lock = _lock_of(extras)
    assert lock.is_file(), f"{name}: no lock file for {extras!r}"
    assert ("keyless" in extras) == (keyless == "true"), extras
    if keyless == "true":
        assert re.search(r"^sigstore==", lock.read_text(), re.MULTILINE), lock.name


@pytest.mark.parametrize("name", STEP_SIGNERS)
@pytest.mark.parametrize("keyless", ["true", "false"])
def test_a_keyless_step_template_installs_sigstore(name: str, keyless: str, tmp_path: Path) -> None:
    _, jobs = yaml.safe_load_all((ROOT / "gitlab-templates" / f"{name}.yml").read_text())
    (job,) = jobs.values()
    script = "\n".join(job["before_script"][1:]) + '\necho "$MLTOOLKIT_BIN"'
    script = script.replace('bash "$MLTOOLKIT_SOURCE', 'sh "$MLTOOLKIT_SOURCE')
    env = {k: str(v) for k, v in job["variables"].items() if "$[[" not in str(v)}
    extras = _extras_chosen(
        script, ["sh", "-eu", "-c"], env | {"MLTOOLKIT_INPUT_KEYLESS": keyless}, tmp_path
    )
    lock = _lock_of(extras)
    assert lock.is_file(), f"{name}: no lock file for {extras!r}"
    assert ("keyless" in extras) == (keyless == "true"), extras
    if keyless == "true":
        assert re.search(r"^sigstore==", lock.read_text(), re.MULTILINE), lock.name


def test_every_extras_option_of_the_templates_has_a_lock_file() -> None:
    for template in sorted((ROOT / "gitlab-templates").glob("*.yml")):
        spec = next(yaml.safe_load_all(template.read_text()))["spec"]["inputs"]
        for option in spec.get("extras", {}).get("options", []):
            assert _lock_of(option).is_file(), f"{template.name}: no lock file for {option!r}"
