"""Renderings of a ``ScanOutcome``: mltoolkit's JSON, SARIF 2.1.0, GitLab's container scanning
report and a markdown summary. None of them changes the verdict; each says what the gate decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltoolkit.files import write_json_report


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path``, whole, in the order the report builds it."""
    write_json_report(path, doc, sort_keys=False)
