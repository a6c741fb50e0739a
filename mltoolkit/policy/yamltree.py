"""YAML read as nodes that remember their line, so every error can name ``file:line: key.path``.

PyYAML's ``compose`` gives the node tree before any Python object is built: each node keeps its
start mark, duplicate keys are still visible, and tags such as ``!!python/object`` are never
constructed. Scalars are turned into Python values one at a time with the safe constructor.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from mltoolkit.errors import InputError

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Source:
    """A YAML document and the name errors show for it."""

    name: str

    def error(self, line: int, path: str, message: str, fix: str | None = None) -> InputError:
        """``name:line: path: message; fix`` as an InputError."""
        what = f"{path}: {message}" if path else message
        return InputError(what, where=f"{self.name}:{line}", fix=fix)

    def compose(self, text: str) -> Field | None:
        """Parse ``text``; None when it holds no document (empty or only comments)."""
        try:
            # libyaml's loader keeps the same marks and is about 7x faster: the policy is read
            # before trivy starts, so its parse time is on the scan step's critical path.
            documents = list(yaml.compose_all(text, Loader=_LOADER))
        except yaml.YAMLError:
            documents = None  # told again below by PyYAML's own parser, whose words are clearer
        if documents is None:
            self._raise_syntax_error(text)
        if not documents:
            return None
        if len(documents) > 1:
            raise self.error(
                int(documents[1].start_mark.line) + 1,
                "",
                "the file holds more than one YAML document",
                fix="keep one document (remove the '---' separator)",
            )
        node = documents[0]
        return Field(self, node, "", 1)

    def _raise_syntax_error(self, text: str) -> NoReturn:
        try:
            list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = exc.problem or exc.context or "invalid YAML"
            raise self.error(
                line, "", f"invalid YAML: {problem}", fix="check indentation and quoting"
            ) from None
        except yaml.YAMLError as exc:
            raise self.error(1, "", f"invalid YAML: {_one_line(str(exc))}") from None
        raise self.error(1, "", "invalid YAML", fix="check indentation and quoting")


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def suggestion(word: str, choices: Iterable[str]) -> str | None:
    """A close match for a mistyped ``word`` (``fail_on`` -> ``fail-on``), or None."""
    options = list(choices)
    for candidate in (word.replace("_", "-"), word.lower(), word.upper()):
        if candidate != word and candidate in options:
            return candidate
    folded = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def did_you_mean(word: str, choices: Iterable[str], *, listing: str = "expected") -> str:
    """A fix hint: ``did you mean 'x'?`` or the list of what is allowed."""
    options = list(choices)
    match = suggestion(word, options)
    if match is not None:
        return f"did you mean '{match}'?"
    if not options:
        return "there is nothing to choose from"
    return f"{listing}: " + ", ".join(options)


def describe(value: Any) -> str:
    """How a wrong value is named in a message: scalars quoted, collections by kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    return f"a {type(value).__name__}"


def refuse_duplicates(values: Iterable[tuple[Field, Hashable]]) -> None:
    """Refuse a value listed twice in one list, naming both lines."""
    seen: dict[Hashable, Field] = {}
    for item, value in values:
        if value in seen:
            raise item.error(
                f"{describe(value)} is listed twice (first at line {seen[value].line})"
            )
        seen[value] = item


@dataclass(frozen=True)
class Field:
    """One value in the document: its node, its key path and the line of the key holding it."""

    source: Source
    node: yaml.Node
    path: str
    key_line: int

    @property
    def line(self) -> int:
        """The line where the value itself starts."""
        return int(self.node.start_mark.line) + 1

    def error(self, message: str, fix: str | None = None, *, at_key: bool = False) -> InputError:
        """An error about this value, at its own line (or its key's line with ``at_key``)."""
        line = self.key_line if at_key else self.line
        return self.source.error(line, self.path, message, fix)

    def kind(self) -> str:
        """What the value is, for messages: 'a mapping', 'a list' or the scalar itself."""
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        return describe(self.value())

    def wrong(self, expected: str, fix: str | None = None) -> InputError:
        """``must be EXPECTED, not WHAT-IT-IS``."""
        return self.error(f"must be {expected}, not {self.kind()}", fix)

    def child(self, key: str | int, node: yaml.Node, key_line: int) -> Field:
        """The field one level down, at ``key`` (a mapping key) or index ``key``."""
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return Field(self.source, node, path, key_line)

    # -- scalars -----------------------------------------------------------------------------

    def value(self) -> Any:
        """The Python value of a scalar node (str, int, float, bool, None, or a date...)."""
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.wrong("a single value")
        try:
            return yaml.constructor.SafeConstructor().construct_object(self.node, deep=True)
        except yaml.YAMLError:
            raise self.error(f"unsupported YAML tag {self.node.tag!r}") from None

    def is_null(self) -> bool:
        """True for ``null``, ``~`` or nothing at all."""
        return isinstance(self.node, yaml.ScalarNode) and self.value() is None

    def string(self, expected: str = "a string") -> str:
        """A string value (numbers and booleans are refused, not converted)."""
        if isinstance(self.node, yaml.ScalarNode):
            value = self.value()
            if isinstance(value, str) and value:
                return value
            if isinstance(value, str):
                raise self.error(f"must be {expected}, not an empty string")
        raise self.wrong(expected)

    def matching(self, pattern: str, expected: str) -> str:
        """A string matching ``pattern`` (the whole string), else ``must be EXPECTED``."""
        text = self.string(expected)
        if re.fullmatch(pattern, text) is None:
            raise self.error(f"must be {expected}, not {describe(text)}")
        return text

    def choice(self, options: Collection[str], expected: str | None = None) -> str:
        """One of ``options``, with a did-you-mean hint when it is not."""
        expected = expected or "one of " + ", ".join(options)
        text = self.string(expected)
        if text not in options:
            raise self.error(
                f"must be {expected}, not {describe(text)}", fix=did_you_mean(text, options)
            )
        return text

    def boolean(self) -> bool:
        """``true`` or ``false`` (YAML booleans only; the string 'true' is refused)."""
        if isinstance(self.node, yaml.ScalarNode):
            value = self.value()
            if isinstance(value, bool):
                return value
        raise self.wrong("true or false")

    def integer(self, *, minimum: int | None = None, expected: str = "an integer") -> int:
        """An integer (``2.0`` counts, as in JSON Schema; booleans do not), at least ``minimum``."""
        if isinstance(self.node, yaml.ScalarNode):
            value = self.value()
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and (minimum is None or value >= minimum)
            ):
                return value
        raise self.wrong(expected)

    def number(self, *, minimum: float, maximum: float, expected: str) -> float:
        """An int or float within [minimum, maximum]."""
        if isinstance(self.node, yaml.ScalarNode):
            value = self.value()
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and minimum <= value <= maximum
            ):
                return float(value)
        raise self.wrong(expected)

    # -- collections -------------------------------------------------------------------------

    def items(self, *, min_items: int = 0) -> list[Field]:
        """The fields of a list, at least ``min_items`` of them."""
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.wrong("a list")
        items = [
            self.child(index, node, int(node.start_mark.line) + 1)
            for index, node in enumerate(self.node.value)
        ]
        if len(items) < min_items:
            raise self.error(f"must list at least {min_items} item{'s' if min_items > 1 else ''}")
        return items

    def entries(self) -> dict[str, Field]:
        """The fields of a mapping by key, refusing duplicate, non-string and merge keys."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.wrong("a mapping")
        fields: dict[str, Field] = {}
        for key_node, value_node in self.node.value:
            key_line = int(key_node.start_mark.line) + 1
            if key_node.tag == _MERGE_TAG:
                raise self.source.error(
                    key_line,
                    self.path,
                    "YAML merge keys (<<) are not supported",
                    fix="write the keys out",
                )
            key_field = Field(self.source, key_node, self.path, key_line)
            key = key_field.value() if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or not key:
                raise key_field.error(f"keys must be non-empty strings, not {key_field.kind()}")
            if key in fields:
                first = fields[key].key_line
                raise self.source.error(
                    key_line,
                    self.child(key, value_node, key_line).path,
                    f"duplicate key (first at line {first})",
                    fix="keep one of them",
                )
            fields[key] = self.child(key, value_node, key_line)
        return fields

    def record(
        self, *, required: Iterable[str] = (), optional: Iterable[str] = ()
    ) -> dict[str, Field]:
        """A mapping with fixed keys: unknown keys and missing required ones are errors."""
        fields = self.entries()
        required = list(required)
        allowed = [*required, *optional]
        for key, value in fields.items():
            if key not in allowed:
                raise value.error(
                    "unknown key",
                    fix=did_you_mean(key, allowed, listing="allowed keys"),
                    at_key=True,
                )
        for key in required:
            if key not in fields:
                path = f"{self.path}.{key}" if self.path else key
                raise self.source.error(self.key_line, path, "required key is missing")
        return fields
