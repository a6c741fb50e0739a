"""CI platform adapters: the only place mltoolkit reads CI variables or writes CI files.

``detect()`` picks the adapter from the environment: GitHub Actions (``GITHUB_ACTIONS=true``),
GitLab CI (``GITLAB_CI=true``) or local. ``MLTOOLKIT_PLATFORM=github|gitlab|local`` overrides the
choice (for a CI system that sets both, or to test a template locally).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from mltoolkit.ci.base import CIPlatform, RunInfo
from mltoolkit.ci.masking import redact
from mltoolkit.errors import InputError

__all__ = ["PLATFORMS", "CIPlatform", "RunInfo", "detect", "redact"]

PLATFORMS = ("github", "gitlab", "local")


def detect(environ: Mapping[str, str] | None = None, *, stream: TextIO | None = None) -> CIPlatform:
    """The adapter for the platform this process runs on (``environ`` defaults to os.environ)."""
    env = os.environ if environ is None else environ
    chosen = env.get("MLTOOLKIT_PLATFORM", "").strip().lower()
    if chosen and chosen not in PLATFORMS:
        raise InputError(
            f"unknown platform {chosen!r}",
            where="MLTOOLKIT_PLATFORM",
            fix=f"set it to one of {', '.join(PLATFORMS)} or unset it",
        )
    if not chosen:
        if env.get("GITHUB_ACTIONS") == "true":
            chosen = "github"
        elif env.get("GITLAB_CI") == "true":
            chosen = "gitlab"
        else:
            chosen = "local"
    # Only the chosen adapter is imported: `--help` of a command that imports this package
    # should not pay for the others.
    if chosen == "github":
        from mltoolkit.ci.github import GitHubActions

        return GitHubActions(env, stream)
    if chosen == "gitlab":
        from mltoolkit.ci.gitlab import GitLabCI

        return GitLabCI(env, stream)
    from mltoolkit.ci.local import Local

    return Local(env, stream)
