"""Helpers shared by the e2e tests: where the tools are, reading the registry, running a runner.

The runners come from scripts/install-tools (act, and gitlab-ci-local on Node 22, both reachable
from the venv's bin/), the linters from the dev extra; when one is missing the tests are skipped
locally and fail under CI (CI=true), so a broken install cannot pass as green.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The project files a pipeline needs to install and run mltoolkit from its own checkout.
PROJECT_FILES = (
    "action.yml",
    "actions",
    "gitlab-templates",
    "mltoolkit",
    "pyproject.toml",
    "README.md",
    "requirements",
)
GITHUB_ORIGIN = "https://github.com/e2e-owner/e2e-project.git"
GITLAB_ORIGIN = "https://gitlab.example.invalid/e2e-group/e2e-project.git"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
# A line whose executed output is the bare marker: act prints step output as "[wf/job]   | X",
# gitlab-ci-local as "job > X". The payload itself, echoed as data, never ends in the bare marker.
INJECTION_MARKER = "INJECTED"
PAYLOAD = f'x"; echo {INJECTION_MARKER}; "y'
_EXECUTED = re.compile(rf"(?:^|[|>])\s*{INJECTION_MARKER}\s*$", re.MULTILINE)


def marker_executed(output: str) -> bool:
    """True when the injection marker appears as the whole output of a command."""
    return bool(_EXECUTED.search(output))


def _missing(what: str) -> None:
    message = f"{what} is not installed; run scripts/install-tools and pip install -e '.[dev]'"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """Path of an e2e tool from the running venv, the project venv or PATH (skip/fail if absent)."""
    candidates = [Path(sys.prefix) / "bin" / name, ROOT / ".venv" / "bin" / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        _missing(name)
    assert found is not None
    return found


def registry_digest(registry: str, repository: str, tag: str) -> str:
    """The Docker-Content-Digest the registry serves for ``repository:tag``."""
    response = requests.head(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=30,
    )
    status = response.status_code
    assert status == 200, f"{repository}:{tag} is not in the registry (HTTP {status})"
    return response.headers["Docker-Content-Digest"]


@dataclass(frozen=True)
class RunResult:
    """What a CI runner did: its exit code and its combined output."""

    returncode: int
    output: str = field(repr=False)


def remove_local_tags(client: Any, image: str, tags: Iterable[str]) -> None:
    """Untag what a pipeline built in the shared engine (the registry keeps its copy)."""
    import docker.errors

    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(f"{image}:{tag}")


def run(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> RunResult:
    """Run a CI runner; its output is printed too, so pytest shows it when a test fails."""
    completed = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(completed.stdout)
    return RunResult(completed.returncode, completed.stdout)
