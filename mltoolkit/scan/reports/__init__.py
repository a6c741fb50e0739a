"""Renderings of a ``ScanOutcome``: mltoolkit's JSON, SARIF 2.1.0, GitLab's container scanning
report and a markdown summary. None of them changes the verdict; each says what the gate decided."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mltoolkit.errors import InputError


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", where=str(path)) from None
