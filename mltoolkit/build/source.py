"""Where the build context comes from: repository URL, ref and commit, read from git and CI.

The CI adapter's ``RunInfo`` knows the canonical repository URL and ref (a CI checkout is often a
detached HEAD with a token in its remote URL); git knows what is actually in the context. So the
commit comes from git when the context is a work tree, and everything else prefers ``RunInfo``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from mltoolkit.ci import RunInfo

_GIT_TIMEOUT_S = 10
# scp-like git remotes: user@host:path (no scheme, a ':' before the first '/').
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!/).+)$")


@dataclass(frozen=True)
class SourceInfo:
    """The source of a build. Every field is None when unknown (e.g. a context outside git)."""

    repository_url: str | None
    ref: str | None
    commit: str | None
    dirty: bool | None
    context_path: str
    """The context relative to the repository root (POSIX), or as given outside a repository."""
    root: Path | None = None
    """The work tree's root on this machine (never published: it is a local path)."""

    def relative(self, path: Path) -> str:
        """``path`` relative to the repository root (POSIX), or as given outside it."""
        if self.root is not None:
            try:
                return path.resolve().relative_to(self.root).as_posix()
            except ValueError:
                pass
        return str(path)


def _git(cwd: Path, *args: str) -> str | None:
    """Output of ``git -C cwd args``, or None when git is missing or says no."""
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


def public_url(remote: str) -> str:
    """A remote URL fit to publish: credentials removed, scp-like remotes as https, no ``.git``.

    CI checkouts often carry a token in the remote (``https://x-access-token:TOKEN@host/...``);
    that must never end up in an image label or a provenance document.
    """
    remote = remote.strip()
    scp = _SCP_LIKE.match(remote) if "://" not in remote else None
    if scp:
        url = f"https://{scp['host']}/{scp['path']}"
    else:
        parts = urlsplit(remote)
        scheme, netloc = parts.scheme, parts.hostname or ""
        if scheme in {"ssh", "git", "git+ssh"}:
            scheme = "https"  # the port of a git/ssh remote says nothing about the web URL
        elif parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        url = urlunsplit((scheme, netloc, parts.path, "", ""))
    return url.removesuffix("/").removesuffix(".git")


def read_source(context: Path, run: RunInfo | None = None) -> SourceInfo:
    """Source facts for ``context``: git (run in the context directory) completed by ``run``."""
    commit = _git(context, "rev-parse", "--verify", "HEAD")
    toplevel = _git(context, "rev-parse", "--show-toplevel")
    remote = _git(context, "remote", "get-url", "origin") if toplevel else None
    ref = _git(context, "symbolic-ref", "-q", "HEAD") if toplevel else None
    status = _git(context, "status", "--porcelain", "--untracked-files=no") if toplevel else None

    root = Path(toplevel).resolve() if toplevel else None

    repository_url = run.repository_url if run and run.repository_url else None
    if repository_url is None and remote:
        repository_url = public_url(remote)
    elif repository_url is not None:
        repository_url = public_url(repository_url)
    info = SourceInfo(
        repository_url=repository_url,
        ref=(run.ref if run and run.ref else None) or ref or None,
        commit=commit or (run.commit if run else None) or None,
        dirty=None if status is None else bool(status),
        context_path=str(context),
        root=root,
    )
    return replace(info, context_path=info.relative(context))
