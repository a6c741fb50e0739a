"""The one error hierarchy of mltoolkit.

Every failure a user can meet is an ``Error`` that carries its own diagnostic: what failed, where,
and what to do about it. The CLI catches ``Error`` in one place (``mltoolkit.cli.main``), prints
``diagnostics()`` as one line and exits with ``exit_code``. A traceback is shown only with
``--verbose``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes, stable for scripts and CI."""

    OK = 0
    DENIED = 1  # a gate, policy or verification said no
    USAGE = 2  # bad usage or bad input (config, suite, reference)
    EXTERNAL = 3  # the outside failed (engine, registry, MLflow, a tool) after retries


class Error(Exception):
    """Base of every error mltoolkit reports to a user.

    ``what`` says what failed, ``where`` names the file, key, image or service involved, and
    ``fix`` says what to do. Subclasses fix the exit code.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.EXTERNAL

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.fix = fix
        # Set when the command already printed its result document (a gate table, a scan
        # report): under --json that document stays the only one on stdout.
        self.result_emitted = False

    def after_result(self) -> Error:
        """Mark that the command's result was already emitted; returns ``self`` to raise."""
        self.result_emitted = True
        return self

    def diagnostics(self) -> str:
        """The one line a user reads: ``where: what; fix``."""
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text = f"{text}; {self.fix}"
        # One line: a multi-line cause must not split the diagnostic across log lines.
        return " ".join(text.split("\n"))

    def __str__(self) -> str:
        return self.diagnostics()


class InputError(Error):
    """Bad usage or bad input: a flag, a file, a reference, a policy. Exit 2."""

    exit_code = ExitCode.USAGE


class DeniedError(Error):
    """A gate, the policy or a verification said no. Exit 1."""

    exit_code = ExitCode.DENIED


class ExternalError(Error):
    """The outside failed (engine, registry, MLflow, a tool), after retries. Exit 3."""

    exit_code = ExitCode.EXTERNAL
