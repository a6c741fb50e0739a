"""What every CI platform adapter offers, and the parts they share.

An adapter is the only code in mltoolkit that knows where it runs: it reads the platform's
variables, writes its output files and prints its log commands. Everything an adapter prints
goes to stderr (GitHub's runner reads workflow commands from both streams; GitLab logs both),
because stdout carries the command's result.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable

from mltoolkit.ci import masking
from mltoolkit.errors import InputError

if TYPE_CHECKING:
    from mltoolkit.ci.platform_approvals import PlatformApproval

# Output names: letters, digits, '_' and '-', starting with a letter or '_' (what a GitHub
# `steps.<id>.outputs.<name>` expression and, after upper-casing, a GitLab variable accept).
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


@dataclass(frozen=True)
class RunInfo:
    """Where and by whom this run was started, as the platform reports it (None when unknown).

    ``ref`` is a full git ref (``refs/heads/main``, ``refs/tags/v1``); ``builder_id`` names the
    CI definition that ran (a URI a provenance statement can carry).
    """

    platform: str
    repository_url: str | None = None
    ref: str | None = None
    commit: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    actor: str | None = None
    builder_id: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The fields as a plain dict (for JSON results and evidence)."""
        return asdict(self)


@runtime_checkable
class CIPlatform(Protocol):
    """The interface the CLI and the core use to talk to the CI platform."""

    name: str

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Publish step outputs for later steps or jobs."""

    def summary(self, markdown: str) -> None:
        """Add markdown to the run's human summary."""

    def error(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """Report an error, pinned to a file and line where given."""

    def warning(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """Report a warning, pinned to a file and line where given."""

    def mask(self, secret: str) -> None:
        """Make sure ``secret`` never shows in the log or in anything mltoolkit writes."""

    def section(self, title: str, *, collapsed: bool = False) -> AbstractContextManager[None]:
        """A foldable part of the log, as a context manager."""

    def run_info(self) -> RunInfo:
        """Where and by whom this run was started."""

    def platform_approvals(self, environment: str) -> list[PlatformApproval] | None:
        """The platform's own approvals that let this job into ``environment``; None where the
        platform has none. Raises ``PlatformApprovalError`` when they cannot be read."""


def check_outputs(outputs: Mapping[str, str]) -> None:
    """Refuse output names no platform accepts and values holding a registered secret."""
    for name, value in outputs.items():
        if not isinstance(value, str):
            raise InputError(
                f"output {name!r} is a {type(value).__name__}, not text",
                where=f"output {name}",
                fix="convert the value to a string before publishing it",
            )
        if not _OUTPUT_NAME.match(name):
            raise InputError(
                f"output name {name!r} is not valid",
                where=f"output {name}",
                fix="use letters, digits, '_' and '-', starting with a letter or '_'",
            )
        if masking.contains_secret(value):
            raise InputError(
                f"output {name!r} contains a masked secret",
                where=f"output {name}",
                fix="never publish a secret as an output; pass a reference to it instead",
            )


def env_value(environ: Mapping[str, str], key: str) -> str | None:
    """A variable's value, with unset and empty both read as None."""
    value = environ.get(key, "")
    return value or None


class Adapter:
    """What the adapters share: the environment they read and the stream they print to."""

    name = "base"

    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        self.environ = dict(environ)
        self._stream = stream

    def _write_raw(self, line: str) -> None:
        # Resolved at each call so that a replaced sys.stderr (pytest's capture) is honoured.
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def _print(self, text: str) -> None:
        self._write_raw(masking.redact(text))

    def mask(self, secret: str) -> None:
        """Register ``secret`` so that nothing this process prints or writes contains it."""
        masking.register(secret)

    @contextmanager
    def section(self, title: str, *, collapsed: bool = False) -> Iterator[None]:
        """A titled part of the log (a plain header line where the platform cannot fold)."""
        self._print(f"-- {title}")
        yield

    def platform_approvals(self, environment: str) -> list[PlatformApproval] | None:
        """None: this platform has no approvals of its own."""
        return None
