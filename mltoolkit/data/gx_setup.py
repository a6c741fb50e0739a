"""Great Expectations, imported quietly: no analytics, no progress bars, no import-time warnings."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

from mltoolkit.heap import bulk_import

_LOGGERS = ("great_expectations", "py4j", "pyspark")


def quiet_gx(*, spark: bool = False) -> None:
    """Import GX with analytics off and its warnings and log chatter silenced (idempotent).

    Without ``spark``, GX is imported as if pyspark were absent: GX imports pyspark eagerly when
    it is installed, which costs about a second that a pandas or SQL run never uses.
    """
    # GX reads this when it is imported: set it first so that no event is ever sent.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if "great_expectations" in sys.modules:
        return
    hide_spark = not spark and "pyspark" not in sys.modules
    if hide_spark:
        sys.modules["pyspark"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings(), bulk_import():
            warnings.simplefilter("ignore")
            import great_expectations  # noqa: F401
    finally:
        if hide_spark:
            del sys.modules["pyspark"]
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def ephemeral_context() -> Any:
    """An in-memory GX data context: nothing written to disk, analytics and progress bars off."""
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gx.get_context(mode="ephemeral", project_config=config)
