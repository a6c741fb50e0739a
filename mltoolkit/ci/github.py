"""GitHub Actions: environment files, workflow commands and the run's identity.

Outputs go to ``$GITHUB_OUTPUT`` in the runner's heredoc form (``name<<DELIM``, the value, then
``DELIM``) with a random delimiter per value, checked not to occur in the value, so no value can
end its own block early and inject other outputs. The summary is appended to
``$GITHUB_STEP_SUMMARY``. Annotations, masks and groups are workflow commands on stderr, which the
runner reads like stdout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mltoolkit.ci import masking
from mltoolkit.ci.base import Adapter, RunInfo, check_outputs, env_value
from mltoolkit.errors import ExternalError

if TYPE_CHECKING:
    from mltoolkit.ci.platform_approvals import PlatformApproval

# The runner refuses (and drops) a step summary above this size.
SUMMARY_LIMIT_BYTES = 1024 * 1024


def escape_data(text: str) -> str:
    """Escape a workflow command's message the way the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _delimiter(value: str) -> str:
    while True:
        candidate = f"ghadelimiter_{uuid.uuid4()}"
        if candidate not in value:
            return candidate


def _append(path: Path, text: str, *, what: str) -> None:
    try:
        with path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise ExternalError(
            f"cannot write the {what} file: {exc.strerror or exc}",
            where=str(path),
            fix="check that the step runs on a GitHub runner with its file commands available",
        ) from exc


class GitHubActions(Adapter):
    """The adapter for GitHub Actions (``GITHUB_ACTIONS=true``)."""

    name = "github"

    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(environ, stream)
        self._group_depth = 0

    def _env_file(self, key: str) -> Path | None:
        value = env_value(self.environ, key)
        return Path(value) if value else None

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append the outputs to ``$GITHUB_OUTPUT``, one heredoc block per value."""
        check_outputs(outputs)
        if not outputs:
            return
        path = self._env_file("GITHUB_OUTPUT")
        if path is None:
            raise ExternalError(
                "GITHUB_OUTPUT is not set, so step outputs cannot be published",
                where="GITHUB_OUTPUT",
                fix="run mltoolkit as a step of a GitHub Actions job (runner 2.297 or newer)",
            )
        blocks = []
        for name, value in outputs.items():
            delimiter = _delimiter(value)
            blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        # One write, so that outputs set together land together.
        _append(path, "".join(blocks), what="GITHUB_OUTPUT")

    def summary(self, markdown: str) -> None:
        """Append markdown to the step summary (printed on stderr when there is none)."""
        # A blank line after each part, so that the next one cannot continue its table or list.
        text = masking.redact(markdown).rstrip("\n") + "\n\n"
        path = self._env_file("GITHUB_STEP_SUMMARY")
        if path is None:
            self._print(text.rstrip("\n"))
            return
        used = path.stat().st_size if path.exists() else 0
        room = SUMMARY_LIMIT_BYTES - used
        data = text.encode("utf-8")
        if len(data) > room:
            note = b"\n\n*(summary truncated: GitHub keeps at most 1 MiB per step)*\n"
            keep = max(room - len(note), 0)
            text = data[:keep].decode("utf-8", errors="ignore") + note.decode()
            self.warning("the step summary was truncated at GitHub's 1 MiB limit")
            if keep == 0:
                return
        _append(path, text, what="GITHUB_STEP_SUMMARY")

    def _annotate(self, kind: str, message: str, file: str | None, line: int | None) -> None:
        props = []
        if file:
            props.append(f"file={escape_property(masking.redact(file))}")
            if line is not None:
                props.append(f"line={int(line)}")
        head = f"::{kind} {','.join(props)}::" if props else f"::{kind}::"
        self._print(head + escape_data(masking.redact(message)))

    def error(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """An ``::error`` annotation, pinned to ``file`` and ``line`` where given."""
        self._annotate("error", message, file, line)

    def warning(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """A ``::warning`` annotation, pinned to ``file`` and ``line`` where given."""
        self._annotate("warning", message, file, line)

    def mask(self, secret: str) -> None:
        """``::add-mask::`` each line of ``secret`` (the runner masks line by line)."""
        # Written raw, not redacted: the runner consumes these lines, they never reach the log.
        for line in masking.register(secret):
            self._write_raw(f"::add-mask::{escape_data(line)}")

    @contextmanager
    def section(self, title: str, *, collapsed: bool = False) -> Iterator[None]:
        """A ``::group::``; GitHub cannot nest groups, so an inner one is a header line."""
        if self._group_depth:
            self._print(f"-- {title}")
            self._group_depth += 1
            try:
                yield
            finally:
                self._group_depth -= 1
            return
        self._print(f"::group::{escape_data(title)}")
        self._group_depth += 1
        try:
            yield
        finally:
            self._group_depth -= 1
            self._print("::endgroup::")

    def run_info(self) -> RunInfo:
        """The run's identity from GitHub's default variables."""
        env = self.environ
        server = (env_value(env, "GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        repo = env_value(env, "GITHUB_REPOSITORY")
        run_id = env_value(env, "GITHUB_RUN_ID")
        attempt = env_value(env, "GITHUB_RUN_ATTEMPT")
        workflow_ref = env_value(env, "GITHUB_WORKFLOW_REF")
        run_url = None
        if repo and run_id:
            run_url = f"{server}/{repo}/actions/runs/{run_id}"
            if attempt:
                run_url += f"/attempts/{attempt}"
        return RunInfo(
            platform=self.name,
            repository_url=f"{server}/{repo}" if repo else None,
            ref=env_value(env, "GITHUB_REF"),
            commit=env_value(env, "GITHUB_SHA"),
            workflow=workflow_ref,
            run_id=run_id,
            run_url=run_url,
            actor=env_value(env, "GITHUB_ACTOR"),
            builder_id=f"{server}/{workflow_ref}" if workflow_ref else None,
        )

    def platform_approvals(self, environment: str) -> list[PlatformApproval]:
        """Approvals of this run for ``environment`` (see mltoolkit.ci.platform_approvals)."""
        from mltoolkit.ci.platform_approvals import github_approvals

        return github_approvals(self.environ, environment)
