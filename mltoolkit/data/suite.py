"""Suite files: YAML read with line numbers, checked completely before Great Expectations runs.

A suite file::

    name: transactions
    expectations:
      - type: expect_column_values_to_not_be_null
        kwargs: {column: amount}
        severity: critical        # or warning: reported, never fails the gate
        meta: {owner: risk-team}

``read_suite`` checks the structure and duplicates without GX; ``check_suite`` (in
``mltoolkit.data.catalog``) checks types and kwargs against GX's own expectation classes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mltoolkit.errors import InputError
from mltoolkit.policy.yamltree import Field, Source

SEVERITIES = ("critical", "warning")
_TYPE_PATTERN = r"expect_[a-z0-9_]+"


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, with the lines its errors point at."""

    index: int
    type: str
    kwargs: dict[str, Any]
    severity: str
    meta: dict[str, Any]
    path: str
    line: int
    type_line: int
    kwargs_line: int
    kwarg_lines: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """``type(column=...)``: how results and reports name it."""
        column = self.kwargs.get("column")
        if isinstance(column, str):
            return f"{self.type}({column})"
        return self.type

    def to_gx(self) -> dict[str, Any]:
        """The expectation as the dict GX's ExpectationSuite takes."""
        meta = dict(self.meta) | {"mltoolkit_index": self.index, "severity": self.severity}
        return {"type": self.type, "kwargs": dict(self.kwargs), "meta": meta}


@dataclass(frozen=True)
class Suite:
    """A checked suite file: its name, expectations in file order and the digest of its bytes."""

    name: str
    path: Path
    sha256: str
    expectations: tuple[Expectation, ...]
    source: Source

    def error(self, line: int, path: str, message: str, fix: str | None = None) -> InputError:
        """An InputError pointing at ``file:line``."""
        return self.source.error(line, path, message, fix)


def plain(value: Field) -> Any:
    """A field (scalar or collection) as plain Python values, with YAML's safe constructor."""
    try:
        return yaml.constructor.SafeConstructor().construct_object(value.node, deep=True)
    except yaml.YAMLError:
        raise value.error("unsupported YAML tag or value", fix="use plain YAML values") from None


def canonical(value: Any) -> str:
    """A stable text of a kwargs mapping, to find duplicates."""
    return json.dumps(value, sort_keys=True, default=str)


def read_suite(path: Path) -> Suite:
    """Read the suite at ``path`` and check its structure (types and kwargs: ``check_suite``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            "suite file not found", where=str(path), fix="pass --suite with a YAML suite file"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the suite: {exc.strerror}", where=str(path)) from None
    source = Source(str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the suite is not UTF-8 text", where=str(path)) from None
    root = source.compose(text)
    if root is None:
        raise source.error(1, "", "the suite is empty", fix="give it a name and expectations")
    fields = root.record(required=("name", "expectations"), optional=("meta",))
    name = fields["name"].string("a suite name")
    items = fields["expectations"].items(min_items=1)
    expectations = tuple(_expectation(index, item) for index, item in enumerate(items))
    _refuse_duplicates(source, expectations)
    return Suite(name, path, hashlib.sha256(data).hexdigest(), expectations, source)


def _expectation(index: int, item: Field) -> Expectation:
    fields = item.record(required=("type",), optional=("kwargs", "meta", "severity"))
    type_field = fields["type"]
    type_name = type_field.matching(_TYPE_PATTERN, "an expectation type (expect_...)")
    kwargs: dict[str, Any] = {}
    kwarg_lines: dict[str, int] = {}
    kwargs_field = fields.get("kwargs")
    if kwargs_field is not None and not kwargs_field.is_null():
        for key, value in kwargs_field.entries().items():
            kwargs[key] = plain(value)
            kwarg_lines[key] = value.key_line
    meta: dict[str, Any] = {}
    meta_field = fields.get("meta")
    if meta_field is not None and not meta_field.is_null():
        meta = {key: plain(value) for key, value in meta_field.entries().items()}
    severity = "critical"
    if "severity" in fields:
        severity = fields["severity"].choice(SEVERITIES)
    return Expectation(
        index=index,
        type=type_name,
        kwargs=kwargs,
        severity=severity,
        meta=meta,
        path=item.path,
        line=item.line,
        type_line=type_field.line,
        kwargs_line=kwargs_field.key_line if kwargs_field is not None else item.line,
        kwarg_lines=kwarg_lines,
    )


def _refuse_duplicates(source: Source, expectations: tuple[Expectation, ...]) -> None:
    seen: dict[tuple[str, str], Expectation] = {}
    for exp in expectations:
        key = (exp.type, canonical(exp.kwargs))
        first = seen.get(key)
        if first is not None:
            raise source.error(
                exp.line,
                exp.path,
                f"duplicate expectation: {exp.describe()} with the same kwargs is already at line "
                f"{first.line}",
                fix="remove one of them",
            )
        seen[key] = exp
