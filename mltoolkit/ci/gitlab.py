"""GitLab CI: a dotenv report for outputs, a summary file, collapsible log sections.

Outputs go to a dotenv file (``$MLTOOLKIT_DOTENV``, default ``mltoolkit.env`` in the working
directory) that a template declares as ``artifacts:reports:dotenv``; each output ``name`` becomes
``MLTOOLKIT_NAME``. GitLab reads that file line by line as ``KEY=VALUE``, strips both sides,
expands ``$`` references in values and has no quoting or escapes, so a value with a line break,
a carriage return, a ``$`` or leading/trailing blanks cannot arrive intact: such values are
refused (InputError), never silently changed. mltoolkit's outputs (digests, references, URLs,
paths) never need them.

GitLab has no step summary: markdown is appended to ``$MLTOOLKIT_SUMMARY`` (default
``mltoolkit-summary.md``), which templates publish as an artifact, and printed in the log.
GitLab masks only variables declared masked in its settings; ``mask`` keeps mltoolkit itself
from ever printing or writing a secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mltoolkit.ci import masking
from mltoolkit.ci.base import Adapter, RunInfo, check_outputs, env_value
from mltoolkit.errors import ExternalError, InputError
from mltoolkit.files import write_atomic

if TYPE_CHECKING:
    from mltoolkit.ci.platform_approvals import PlatformApproval

KEY_PREFIX = "MLTOOLKIT_"
DEFAULT_DOTENV = "mltoolkit.env"
DEFAULT_SUMMARY = "mltoolkit-summary.md"
# GitLab.com's limits for a dotenv report (self-managed instances can raise them): larger
# reports are refused at upload, and every variable in them is lost.
DOTENV_MAX_BYTES = 5 * 1024
DOTENV_MAX_VARIABLES = 20

_ESC = "\x1b"
_UNSAFE_VALUE = re.compile(r"[\r\n\x00$]")
_SECTION_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def dotenv_key(name: str) -> str:
    """The GitLab variable an output ``name`` is published as."""
    return KEY_PREFIX + name.upper().replace("-", "_")


def parse_dotenv(text: str) -> dict[str, str]:
    """Read a dotenv report as GitLab does: ``KEY=VALUE`` per line, split at the first ``=``."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(
                "a dotenv line has no '='",
                where=f"line {number}",
                fix="remove the line or the file",
            )
        values[key.strip()] = value.strip()
    return values


def _check_value(name: str, value: str) -> None:
    bad = _UNSAFE_VALUE.search(value)
    if bad or value != value.strip():
        what = {"\n": "a line break", "\r": "a carriage return", "\x00": "a NUL", "$": "a '$'"}
        reason = what[bad.group()] if bad else "leading or trailing blanks"
        raise InputError(
            f"output {name!r} has {reason}, which a GitLab dotenv report cannot carry",
            where=f"output {name}",
            fix="publish a single-line value without '$' (a file path or a digest, say)",
        )


class GitLabCI(Adapter):
    """The adapter for GitLab CI (``GITLAB_CI=true``)."""

    name = "gitlab"

    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(environ, stream)
        self._sections = 0

    def _path(self, key: str, default: str) -> Path:
        return Path(env_value(self.environ, key) or default)

    @property
    def dotenv_path(self) -> Path:
        """The dotenv report this job's outputs are written to."""
        return self._path("MLTOOLKIT_DOTENV", DEFAULT_DOTENV)

    @property
    def summary_path(self) -> Path:
        """The markdown file this job's summary is appended to."""
        return self._path("MLTOOLKIT_SUMMARY", DEFAULT_SUMMARY)

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Merge the outputs into the dotenv report, replacing it atomically."""
        check_outputs(outputs)
        keys: dict[str, str] = {}
        for name, value in outputs.items():
            _check_value(name, value)
            key = dotenv_key(name)
            if key in keys:
                raise InputError(
                    f"outputs {keys[key]!r} and {name!r} both become {key}",
                    where=f"output {name}",
                    fix="give outputs names that differ in more than case or '-'/'_'",
                )
            keys[key] = name
        if not outputs:
            return
        path = self.dotenv_path
        try:
            existing = parse_dotenv(path.read_text(encoding="utf-8")) if path.exists() else {}
        except InputError as exc:
            raise InputError(
                f"the existing dotenv report is not KEY=VALUE lines ({exc.what})",
                where=f"{path}: {exc.where}",
                fix="delete it or point MLTOOLKIT_DOTENV at another file",
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ExternalError(
                f"cannot read the dotenv report: {exc}", where=str(path), fix="check the path"
            ) from exc
        merged = dict(existing)
        merged.update({dotenv_key(name): value for name, value in outputs.items()})
        text = "".join(f"{key}={value}\n" for key, value in merged.items())
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise ExternalError(
                f"cannot write the dotenv report: {exc.strerror or exc}",
                where=str(path),
                fix="check that the directory exists and is writable, or set MLTOOLKIT_DOTENV",
            ) from exc
        size = len(text.encode("utf-8"))
        if size >= DOTENV_MAX_BYTES or len(merged) > DOTENV_MAX_VARIABLES:
            self.warning(
                f"the dotenv report has {len(merged)} variables in {size} bytes; GitLab.com "
                f"refuses reports of {DOTENV_MAX_BYTES} bytes or more than "
                f"{DOTENV_MAX_VARIABLES} variables",
                file=str(path),
            )

    def summary(self, markdown: str) -> None:
        """Append to the summary file and print the markdown in a log section."""
        text = masking.redact(markdown).rstrip("\n") + "\n\n"
        path = self.summary_path
        try:
            previous = path.read_text(encoding="utf-8") if path.exists() else ""
            write_atomic(path, previous + text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ExternalError(
                f"cannot write the summary file: {exc}",
                where=str(path),
                fix="check that the directory is writable, or set MLTOOLKIT_SUMMARY",
            ) from exc
        with self.section("Summary"):
            self._print(text.rstrip("\n"))

    def _report(
        self, label: str, colour: str, message: str, file: str | None, line: int | None
    ) -> None:
        where = ""
        if file:
            where = f"{file}:{int(line)}: " if line is not None else f"{file}: "
        self._print(f"{_ESC}[{colour}m{label}{_ESC}[0m: {where}{message}")

    def error(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """A red ``error:`` line (GitLab has no annotations)."""
        self._report("error", "31;1", message, file, line)

    def warning(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """A yellow ``warning:`` line (GitLab has no annotations)."""
        self._report("warning", "33;1", message, file, line)

    @contextmanager
    def section(self, title: str, *, collapsed: bool = False) -> Iterator[None]:
        """A collapsible section of the job log."""
        self._sections += 1
        slug = _SECTION_NAME.sub("_", title.lower()).strip("_")[:40] or "section"
        name = f"mltoolkit_{slug}_{self._sections}"
        option = "[collapsed=true]" if collapsed else ""
        title = " ".join(title.split())  # the header must stay on the marker's line
        self._print(f"{_ESC}[0Ksection_start:{int(time.time())}:{name}{option}\r{_ESC}[0K{title}")
        try:
            yield
        finally:
            self._print(f"{_ESC}[0Ksection_end:{int(time.time())}:{name}\r{_ESC}[0K")

    def run_info(self) -> RunInfo:
        """The run's identity from GitLab's predefined variables.

        ``builder_id`` has the shape of GitLab's ``ci_config_ref_uri`` ID-token claim:
        ``<project URL>//<CI config path>@<full ref>``.
        """
        env = self.environ
        project_url = env_value(env, "CI_PROJECT_URL")
        server, project = env_value(env, "CI_SERVER_URL"), env_value(env, "CI_PROJECT_PATH")
        if not project_url and server and project:
            project_url = f"{server.rstrip('/')}/{project}"
        config_path = env_value(env, "CI_CONFIG_PATH") or ".gitlab-ci.yml"
        ref = self._full_ref()
        builder_id = None
        if project_url and ref:
            builder_id = f"{project_url}//{config_path}@{ref}"
        return RunInfo(
            platform=self.name,
            repository_url=project_url,
            ref=ref,
            commit=env_value(env, "CI_COMMIT_SHA"),
            workflow=env_value(env, "CI_CONFIG_PATH"),
            run_id=env_value(env, "CI_PIPELINE_ID"),
            run_url=env_value(env, "CI_JOB_URL"),
            actor=env_value(env, "GITLAB_USER_LOGIN"),
            builder_id=builder_id,
        )

    def _full_ref(self) -> str | None:
        env = self.environ
        tag = env_value(env, "CI_COMMIT_TAG")
        if tag:
            return f"refs/tags/{tag}"
        merge_request = env_value(env, "CI_MERGE_REQUEST_IID")
        if merge_request:
            return f"refs/merge-requests/{merge_request}/head"
        name = env_value(env, "CI_COMMIT_REF_NAME")
        return f"refs/heads/{name}" if name else None

    def platform_approvals(self, environment: str) -> list[PlatformApproval]:
        """Approvals of this run for ``environment`` (see mltoolkit.ci.platform_approvals)."""
        from mltoolkit.ci.platform_approvals import gitlab_approvals

        return gitlab_approvals(self.environ, environment)
