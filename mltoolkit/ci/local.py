"""Outside CI (a laptop, or a CI system mltoolkit has no adapter for): plain lines on stderr.

A command's outputs are already part of its result on stdout (``--json``), so ``set_outputs``
only checks them. The markdown summary repeats that result for CI pages, so locally it is written
only where ``MLTOOLKIT_SUMMARY`` names a file (the example pipeline collects it there); errors and
warnings are printed on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping

from mltoolkit.ci import masking
from mltoolkit.ci.base import Adapter, RunInfo, check_outputs


class Local(Adapter):
    """The adapter used when no CI platform is detected."""

    name = "local"

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Check the outputs; they reach the user through the command's result, not here."""
        check_outputs(outputs)

    def summary(self, markdown: str) -> None:
        """Append the markdown to ``$MLTOOLKIT_SUMMARY`` when it is set; otherwise drop it."""
        target = self.environ.get("MLTOOLKIT_SUMMARY")
        if not target:
            return
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(masking.redact(markdown.rstrip("\n")) + "\n\n")

    def _report(self, label: str, message: str, file: str | None, line: int | None) -> None:
        where = ""
        if file:
            where = f"{file}:{int(line)}: " if line is not None else f"{file}: "
        self._print(f"{label}: {where}{message}")

    def error(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """An ``error:`` line on stderr."""
        self._report("error", message, file, line)

    def warning(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """A ``warning:`` line on stderr."""
        self._report("warning", message, file, line)

    def run_info(self) -> RunInfo:
        """Nothing is known about a local run but that it is local."""
        return RunInfo(platform=self.name)
