"""The card-fraud example with `signing: keyless`, run for real by act (host mode) and by
gitlab-ci-local (shell mode), where no OIDC provider exists.

Fulcio and Rekor cannot run here, so neither run can sign; what they prove is the wiring: on
GitHub the keyless job gets through the whole pipeline up to its first signature and fails in
mltoolkit's keyless signing with its own "no OIDC token" error (not a YAML, shell or setup
error), without any key; on GitLab the first job that signs refuses at once, in one line, for
want of SIGSTORE_ID_TOKEN (the id_tokens a project declares in its own .gitlab-ci.yml).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from e2e_harness import GITHUB_ORIGIN, ROOT, RunResult, run, tool
from support.trivydb.fixtures import trivy_db_repository, trivydb_writer  # noqa: F401
from test_example_github import CHECKOUT, CHECKOUT_STAND_IN, consumer_workflow
from test_example_gitlab import consumer_pipeline
from test_example_project import example_files, make_world

pytestmark = pytest.mark.e2e

OIDC_VARIABLES = (
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)


def keyless_consumer_workflow() -> str:
    """The example's delivery.yml switched to keyless, as docs/github.md tells a user to."""
    text = consumer_workflow()
    for pattern, replacement in (
        (r"signing: key\b.*", "signing: keyless"),
        (r"(\n( +)packages: write.*\n)", r"\1\2id-token: write # keyless signing\n"),
    ):
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"the example workflow no longer has {pattern!r}"
    return text


@pytest.fixture
def no_oidc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the host may hand the runners a token."""
    for name in OIDC_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_oidc")
def test_act_keyless_reaches_mltoolkit_signing_and_stops_for_want_of_a_token(
    project_repo: Callable[..., Path],
    services: dict[str, str],
    registry: str,
    trivy_db_repository: str,  # noqa: F811
    setup_cache: Path,
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path / "world", registry, f"e2e-example/ghk-{uuid.uuid4().hex[:8]}")
    files = example_files(world) | {
        ".github/workflows/ml-delivery.yml": ROOT / ".github" / "workflows" / "ml-delivery.yml",
        ".github/workflows/delivery.yml": keyless_consumer_workflow(),
    }
    repo = project_repo(files, GITHUB_ORIGIN)
    stand_in = tmp_path / "checkout"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(CHECKOUT_STAND_IN)
    variables = {
        "MLFLOW_TRACKING_URI": world.tracking_uri,
        "IMAGE_REPOSITORY": world.image,
        "MLTOOLKIT_AUDIT_LOG": str(world.audit_log),
        "TRIVY_DB_REPOSITORY": trivy_db_repository,
        "MLTOOLKIT_CACHE_DIR": str(setup_cache),
    }
    var_file = tmp_path / "vars.env"
    var_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    argv = [
        tool("act"),
        "push",
        "-P",
        "ubuntu-latest=-self-hosted",
        "-W",
        ".github/workflows/delivery.yml",
        "--no-cache-server",
        "--action-cache-path",
        str(tmp_path / "act-cache"),
        "--local-repository",
        f"{CHECKOUT}={stand_in}",
        "--var-file",
        str(var_file),
    ]  # and no --secret-file: the keyless path needs no key
    for name, value in services.items():
        argv += ["--env", f"{name}={value}"]

    result: RunResult = run(argv, cwd=repo, env={}, timeout=1800)

    assert result.returncode != 0, "keyless signing succeeded without any OIDC provider"
    output = result.output
    # The keyless job ran the pipeline up to its first signature; the key job never ran.
    assert "sign (keyless)" in output and "sign (key)," not in output
    assert re.search(r"Success - Main Build and push the image", output), "no image was built"
    assert re.search(r"Failure - Main SBOM, attested", output)
    # ...and it stopped in mltoolkit's keyless signing, with mltoolkit's remedy.
    assert "cannot get an OIDC token" in output
    assert "give the job `permissions: id-token: write`" in output
    for symptom in ("Traceback", "syntax error", "unbound variable", "set the ci-key secret"):
        assert symptom not in output, symptom
    assert "Promoted" not in output, "a promotion ran after the failed delivery"


@pytest.mark.usefixtures("no_oidc")
def test_gitlab_keyless_without_an_id_token_fails_the_first_signing_job_in_one_line(
    project_repo: Callable[..., Path],
    tmp_path: Path,
) -> None:
    doc = yaml.safe_load(consumer_pipeline())
    doc["include"][0]["inputs"]["signing"] = "keyless"
    repo = project_repo({".gitlab-ci.yml": yaml.safe_dump(doc, sort_keys=False)})
    variables = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "E2E_IMAGE": "127.0.0.1:1/e2e-keyless/model",
        "E2E_SETUP_CACHE": str(tmp_path / "setup-cache"),
    }
    argv = [tool("gitlab-ci-local"), "--force-shell-executor", "--shell-isolation"]
    for name, value in variables.items():
        argv += ["--variable", f"{name}={value}"]

    result = run(argv, cwd=repo, env={}, timeout=600)

    assert result.returncode != 0
    line = (
        "error: signing: keyless needs SIGSTORE_ID_TOKEN: add 'id_tokens: {SIGSTORE_ID_TOKEN: "
        "{aud: sigstore}}' to the job mltoolkit-build in your .gitlab-ci.yml (an included file "
        "cannot declare it)"
    )
    assert line in result.output
    assert not (tmp_path / "setup-cache").exists(), "the job went on to install mltoolkit"
    assert result.output.count("starting shell") == 1, "a job after mltoolkit-build started"
