"""The ignore file: findings accepted for a stated reason until a stated date.

Format (YAML)::

    ignores:
      - id: CVE-2018-18074           # required: a vulnerability id, secret rule id or check id
        package: requests            # optional: only this package
        purl: pkg:pypi/requests      # optional: this purl (without @version: any version)
        path: app/*.cfg              # optional: glob on the finding's file path or target
        reason: no redirect to untrusted hosts in this service   # required
        expires: 2026-12-31          # required: the last day the entry suppresses anything

A top-level list of entries is accepted too. An entry without ``reason`` or ``expires`` is an input
error naming the file and line. An expired entry suppresses nothing; the gate reports it by name.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import InputError
from mltoolkit.scan.findings import Finding

if TYPE_CHECKING:
    import yaml

_FIELDS = ("id", "package", "purl", "path", "reason", "expires")


@dataclass(frozen=True)
class IgnoreEntry:
    """One entry of the ignore file, with where it was written."""

    id: str
    reason: str
    expires: dt.date
    package: str | None = None
    purl: str | None = None
    path: str | None = None
    source: str = ""

    def expired(self, today: dt.date) -> bool:
        """True after the ``expires`` day."""
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether this entry names ``finding`` (id, and every optional field given)."""
        if self.id.casefold() != finding.id.casefold():
            return False
        package = (finding.package or "").casefold()
        if self.package is not None and package != self.package.casefold():
            return False
        if self.purl is not None and not _purl_matches(self.purl, finding.purl):
            return False
        if self.path is not None:
            candidates = [p.lstrip("/") for p in (finding.path, finding.target) if p]
            if not any(fnmatch.fnmatchcase(c, self.path.lstrip("/")) for c in candidates):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict."""
        doc: dict[str, Any] = {
            "id": self.id,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "source": self.source,
        }
        for key in ("package", "purl", "path"):
            value = getattr(self, key)
            if value is not None:
                doc[key] = value
        return doc


def _purl_matches(pattern: str, purl: str | None) -> bool:
    if purl is None:
        return False
    if "@" in pattern:
        return purl == pattern
    return purl.split("@", 1)[0] == pattern


def _scalar(node: yaml.Node, where: str, key: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise InputError(f"ignore entry: '{key}' must be a non-empty text", where=where)
    return str(node.value).strip()


def _date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InputError(
            f"ignore entry: expires {text!r} is not a date", where=where, fix="write YYYY-MM-DD"
        ) from None


def _entry(node: yaml.Node, file: str) -> IgnoreEntry:
    import yaml

    where = f"{file}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        raise InputError("ignore entry must be a mapping with id, reason and expires", where=where)
    fields: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        key_where = f"{file}:{key_node.start_mark.line + 1}"
        if key not in _FIELDS:
            raise InputError(
                f"ignore entry: unknown key '{key}'",
                where=key_where,
                fix=f"use only {', '.join(_FIELDS)}",
            )
        fields[key] = _scalar(value_node, key_where, key)
    for required in ("id", "reason", "expires"):
        if required not in fields:
            raise InputError(
                f"ignore entry for {fields.get('id', '?')!r} has no '{required}'",
                where=where,
                fix="every entry needs an id, a reason and an expires date (YYYY-MM-DD)",
            )
    return IgnoreEntry(
        id=fields["id"],
        reason=fields["reason"],
        expires=_date(fields["expires"], where),
        package=fields.get("package"),
        purl=fields.get("purl"),
        path=fields.get("path"),
        source=where,
    )


def parse_ignore_text(text: str, file: str) -> tuple[IgnoreEntry, ...]:
    """Parse ignore-file text; ``file`` is used in error locations."""
    # PyYAML costs ~35 ms to import: only runs with an ignore file pay it.
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=where) from None
    if root is None:
        return ()
    items = root
    if isinstance(root, yaml.MappingNode):
        keys = {str(k.value): v for k, v in root.value}
        if set(keys) != {"ignores"}:
            raise InputError(
                "ignore file must hold one key, 'ignores', with a list of entries",
                where=f"{file}:{root.start_mark.line + 1}",
            )
        items = keys["ignores"]
    if isinstance(items, yaml.ScalarNode) and items.value in ("", "null", "~"):
        return ()
    if not isinstance(items, yaml.SequenceNode):
        raise InputError(
            "ignore entries must be a list", where=f"{file}:{items.start_mark.line + 1}"
        )
    return tuple(_entry(node, file) for node in items.value)


def load_ignore_file(path: Path) -> tuple[IgnoreEntry, ...]:
    """Read and check an ignore file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the ignore file: {exc.strerror}", where=str(path)) from None
    return parse_ignore_text(text, str(path))
