"""The garbage collector around the large imports of a short-lived command."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class _Process:
    short_lived = False


def short_lived() -> None:
    """Declare this process one command long (the CLI's entry point does, an embedding never)."""
    _Process.short_lived = True


@contextmanager
def bulk_import() -> Iterator[None]:
    """Run a large import (GX, MLflow) without the cyclic collector, then freeze its objects.

    Importing GX or MLflow creates a few hundred thousand objects that live until the process
    ends. They count towards the collector's thresholds, so the import triggers full
    collections that walk everything imported so far, and every later full collection walks it
    all again: 0.3-0.4 s of a validate-data or promote run (bench/pipeline.py). Module objects
    form no garbage worth that; frozen objects are never examined again, and the collector runs
    as usual on what the command creates afterwards. Only in a short-lived process: freezing
    also keeps whatever garbage exists at that moment, which a long-lived caller (a test
    runner, a notebook) would accumulate.
    """
    if not _Process.short_lived:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
