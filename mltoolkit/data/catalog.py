"""Suite checks against Great Expectations' own expectation classes (GX imported here).

GX drops an unknown expectation type from a suite with only a log line, and reports a bad kwarg
only when the suite runs: both are caught here first, with the file and line of the mistake.
"""

from __future__ import annotations

from typing import Any

from mltoolkit.data.gx_setup import quiet_gx
from mltoolkit.data.suite import Expectation, Suite
from mltoolkit.errors import InputError
from mltoolkit.policy.yamltree import describe, did_you_mean

# Fields of GX's Expectation base class that a suite file sets elsewhere (meta, severity) or
# that mltoolkit owns (ids, result format, rendering).
_RESERVED = frozenset(
    {"id", "meta", "severity", "rendered_content", "batch_id", "result_format", "windows"}
)
# Expectations about the columns themselves: a missing column is their verdict, not bad input.
_COLUMN_CHECKS = ("expect_table_", "expect_column_to_exist")
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def known_types() -> list[str]:
    """Every expectation type GX knows, sorted."""
    quiet_gx()
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    return sorted(list_registered_expectation_implementations())


def expectation_class(exp: Expectation, suite: Suite, known: list[str]) -> Any:
    """The GX class for ``exp.type``; InputError at the type's line when GX has none."""
    from great_expectations.expectations.registry import get_expectation_impl

    if exp.type not in known:
        raise suite.error(
            exp.type_line,
            f"{exp.path}.type",
            f"unknown expectation type {exp.type!r}",
            fix=did_you_mean(exp.type, known, listing="see GX's expectation gallery; known")
            if _close(exp.type, known)
            else "see the expectation types of Great Expectations 1.x",
        )
    return get_expectation_impl(exp.type)


def _close(word: str, known: list[str]) -> bool:
    return did_you_mean(word, known).startswith("did you mean")


def allowed_kwargs(cls: Any) -> list[str]:
    """The kwargs a suite file may give an expectation of class ``cls``."""
    return [name for name in cls.__fields__ if name not in _RESERVED]


def check_suite(suite: Suite) -> None:
    """Check each expectation's type and kwargs with GX's classes; InputError at the first error."""
    known = known_types()
    for exp in suite.expectations:
        cls = expectation_class(exp, suite, known)
        allowed = allowed_kwargs(cls)
        for key in exp.kwargs:
            if key not in allowed:
                raise suite.error(
                    exp.kwarg_lines[key],
                    f"{exp.path}.kwargs.{key}",
                    f"{exp.type} has no kwarg {key!r}",
                    fix=_where_it_goes(key) or did_you_mean(key, allowed, listing="its kwargs"),
                )
        _construct(cls, exp, suite)


def _where_it_goes(key: str) -> str | None:
    if key in ("meta", "severity"):
        return f"put {key} beside kwargs, not inside it"
    return None


def _construct(cls: Any, exp: Expectation, suite: Suite) -> None:
    """Build the GX expectation: its pydantic model checks required kwargs, types and ranges."""
    try:
        cls(**exp.kwargs)
    except Exception as exc:
        errors = _pydantic_errors(exc)
        if not errors:
            raise suite.error(
                exp.kwargs_line, f"{exp.path}.kwargs", f"{exp.type}: {_one_line(exc)}"
            ) from None
        raise _first_error(errors, exp, suite) from None


def _pydantic_errors(exc: Exception) -> list[dict[str, Any]]:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return []
    try:
        found = errors()
    except Exception:
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _first_error(errors: list[dict[str, Any]], exp: Expectation, suite: Suite) -> InputError:
    for error in errors:
        loc = error.get("loc") or ()
        key = str(loc[0]) if loc else "__root__"
        kind = str(error.get("type", ""))
        if kind == "value_error.missing":
            return suite.error(
                exp.kwargs_line,
                f"{exp.path}.kwargs",
                f"{exp.type} needs kwarg {key!r}",
                fix=f"add {key}: ... under kwargs",
            )
        if key in exp.kwargs:
            return suite.error(
                exp.kwarg_lines[key],
                f"{exp.path}.kwargs.{key}",
                f"{describe(exp.kwargs[key])} is not a valid {key}: {error.get('msg', 'invalid')}",
            )
    messages = "; ".join(str(e.get("msg", "")) for e in errors if e.get("msg"))
    return suite.error(exp.kwargs_line, f"{exp.path}.kwargs", f"{exp.type}: {messages}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def named_columns(exp: Expectation) -> list[tuple[str, int]]:
    """The columns ``exp`` reads, each with the line naming it (none for table-level checks)."""
    if exp.type.startswith(_COLUMN_CHECKS):
        return []
    found: list[tuple[str, int]] = []
    for key in COLUMN_KWARGS:
        value = exp.kwargs.get(key)
        line = exp.kwarg_lines.get(key, exp.line)
        if isinstance(value, str):
            found.append((value, line))
        elif isinstance(value, list):
            found += [(item, line) for item in value if isinstance(item, str)]
    return found


def columns_needed(suite: Suite) -> list[str] | None:
    """The columns the suite reads, or None when it needs them all (checks of the table's
    columns themselves, or a row_condition, which can name any column)."""
    needed: list[str] = []
    for exp in suite.expectations:
        if exp.type.startswith(("expect_table_column", "expect_column_to_exist")):
            return None
        if exp.kwargs.get("row_condition"):
            return None
        needed += [column for column, _ in named_columns(exp) if column not in needed]
    return needed


def require_columns(suite: Suite, columns: list[str], where: str) -> None:
    """Refuse a suite naming a column the data lacks (InputError at the suite's line)."""
    present = set(columns)
    for exp in suite.expectations:
        for column, line in named_columns(exp):
            if column not in present:
                raise InputError(
                    f"{suite.path}:{line}: {exp.describe()} names column {column!r}, "
                    "which the data does not have",
                    where=where,
                    fix=did_you_mean(column, columns, listing="its columns"),
                )
