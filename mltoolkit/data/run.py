"""Run a checked suite on a data source with GX and read the results back in suite order."""

from __future__ import annotations

import math
import time
import warnings
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mltoolkit.data.catalog import columns_needed, require_columns
from mltoolkit.data.engines import open_batch
from mltoolkit.data.file_engine import choose_engine
from mltoolkit.data.gx_setup import ephemeral_context
from mltoolkit.data.results import ExpectationResult, Outcome
from mltoolkit.data.source import DataSource
from mltoolkit.data.suite import Suite
from mltoolkit.errors import ExternalError

_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def validate(suite: Suite, source: DataSource) -> Outcome:
    """Validate ``source`` against ``suite``; bad data selection raises InputError (exit 2)."""
    import great_expectations as gx

    source, _ = choose_engine(suite, source)  # settles --engine auto (the CLI did already)

    started = time.monotonic()
    context = ephemeral_context()
    gx_suite = context.suites.add(
        gx.ExpectationSuite(name=suite.name, expectations=[e.to_gx() for e in suite.expectations])
    )
    if len(gx_suite.expectations) != len(suite.expectations):
        # GX drops what it cannot build with only a log line; catalog.check_suite should have
        # refused it first, so this is a guard, not a path users take.
        raise ExternalError(
            f"GX kept {len(gx_suite.expectations)} of {len(suite.expectations)} expectations",
            where=str(suite.path),
            fix="rerun with --verbose and report it",
        )
    with open_batch(context, source, columns_needed(suite)) as batch:
        require_columns(suite, batch.columns, source.label)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="mltoolkit", data=batch.definition, suite=gx_suite)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = definition.run(batch_parameters=batch.parameters, result_format=_RESULT_FORMAT)
        fingerprint = batch.fingerprint
    results = in_suite_order(suite, raw)
    return Outcome(
        suite=suite,
        source_label=source.label,
        engine=source.engine,
        results=results,
        fingerprint=fingerprint,
        seconds=time.monotonic() - started,
        gx_version=gx.__version__,
        raw=raw,
    )


def in_suite_order(suite: Suite, raw: Any) -> list[ExpectationResult]:
    """GX's results (in its own order) matched back to the suite's expectations by index."""
    by_index: dict[int, Any] = {}
    for item in raw.results:
        meta = item.expectation_config.meta or {}
        index = meta.get("mltoolkit_index")
        if isinstance(index, int):
            by_index[index] = item
    results = []
    for exp in suite.expectations:
        item = by_index.get(exp.index)
        if item is None:
            results.append(ExpectationResult(exp, "error", error="GX returned no result"))
        else:
            results.append(_result(exp, item))
    return results


def _result(exp: Any, item: Any) -> ExpectationResult:
    raised = _raised(item.exception_info or {})
    if raised is not None:
        return ExpectationResult(exp, "error", error=raised)
    result = item.result or {}
    # A missing value is null whichever engine found it (pandas reports NaN, SQL engines None).
    examples = [
        None if _missing(v) else jsonable(v) for v in (result.get("partial_unexpected_list") or [])
    ]
    return ExpectationResult(
        exp,
        "passed" if item.success else "failed",
        observed=jsonable(result.get("observed_value")),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=_number(result.get("unexpected_percent")),
        unexpected_examples=examples,
    )


def _raised(info: dict[str, Any]) -> str | None:
    """GX's error message for a result, if it raised: at the top of ``exception_info``, or (when a
    metric failed, as SQL engines report it) under the failing metric's id."""
    found = [info, *(v for v in info.values() if isinstance(v, dict))]
    for entry in found:
        if entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "GX raised an error")
            return " ".join(message.split())[:300]
    return None


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        # NaN, NaT and pandas.NA are the values unequal to themselves.
        return bool(value != value)  # noqa: PLR0124
    except (TypeError, ValueError):
        return True  # pandas.NA refuses bool()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def jsonable(value: Any) -> Any:
    """A GX value as JSON can hold it (numpy scalars, NaN and timestamps made plain)."""
    if value is None or isinstance(value, bool):
        return value
    # numpy's float64 and str_ subclass float and str: made plain so that repr() stays readable.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)
