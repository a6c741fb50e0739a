"""Fixtures for running the project's CI definitions for real (act, gitlab-ci-local).

Each test copies the project's action and template files into a throwaway git repository, runs
the pipeline there against the real Docker engine and registry of the `services` fixture
(tests/conftest.py), and reads back what the pipeline reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from e2e_harness import GITLAB_ORIGIN, PROJECT_FILES, ROOT


@pytest.fixture(scope="session")
def setup_cache() -> Path:
    """Where the setup script keeps its venvs between runs (keyed by the lock file's hash)."""
    path = Path(os.environ.get("MLTOOLKIT_E2E_CACHE", ROOT / ".cache" / "e2e" / "setup"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=e2e@example.invalid", "-c", "user.name=e2e", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def project_repo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Path]:
    """Make a git repository holding the project's CI files plus ``extra`` (path -> file|text).

    ``origin`` is the remote URL the runners read the repository's identity from; with
    ``project=False`` the repository holds only ``extra`` (a user's repository).
    """

    def make(
        extra: Mapping[str, Path | str], origin: str = GITLAB_ORIGIN, *, project: bool = True
    ) -> Path:
        repo = tmp_path_factory.mktemp("repo")
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in PROJECT_FILES if project else ():
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, repo / name, ignore=ignore)
            else:
                shutil.copy2(source, repo / name)
        for relative, content in extra.items():
            target = repo / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                if content.is_dir():
                    shutil.copytree(content, target)
                else:
                    shutil.copy2(content, target)
            else:
                target.write_text(content)
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "remote", "add", "origin", origin)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "e2e")
        return repo

    return make
