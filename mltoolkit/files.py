"""Files mltoolkit writes: always whole, never half.

Every file goes through a temporary sibling renamed into place, so a reader (a CI step, a
release manager, the next run) sees the old content or the new, never a torn write.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mltoolkit.errors import InputError


def write_atomic(
    path: Path, data: bytes | str, *, mode: int = 0o644, durable: bool = False
) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    ``mode`` is applied before the rename (``tempfile`` creates 0600 files); ``durable``
    also syncs the file to disk first. Raises ``OSError``: callers say what the file was.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Write a file the user asked for (a report, a page, an export): a failure is exit 2."""
    try:
        write_atomic(path, data, mode=mode)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}",
            where=str(path),
            fix="check that the directory exists and is writable",
        ) from None


def write_json_report(path: Path, document: Any, *, sort_keys: bool = True) -> None:
    """A JSON document the user asked for, indented, written whole."""
    text = json.dumps(document, indent=2, sort_keys=sort_keys, default=str) + "\n"
    write_report(path, text)
