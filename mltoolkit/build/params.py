"""``KEY=VALUE`` pairs given on the command line (``--build-arg``, ``--label``)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mltoolkit.errors import InputError

# Build args become ARG names in the Dockerfile: the same identifier rule Docker applies.
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Label keys are free-form in Docker, but reverse-DNS keys never hold spaces, '=' or controls.
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def parse_pair(
    text: str, *, option: str, key_pattern: re.Pattern[str] = _ARG_NAME
) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (the value may be empty or hold more ``=``); InputError otherwise."""
    key, sep, value = text.partition("=")
    if not sep:
        raise InputError(
            f"{option} {text!r} has no '='",
            where=option,
            fix=f"write {option} KEY=VALUE (an empty value is KEY=)",
        )
    if not key_pattern.fullmatch(key):
        raise InputError(
            f"{option} {text!r} has an invalid key {key!r}",
            where=option,
            fix=_KEY_FIX.get(
                key_pattern.pattern, "use a key of letters, digits, '.', '_', '/', '-'"
            ),
        )
    return key, value


_KEY_FIX = {
    _ARG_NAME.pattern: "a build-arg name is letters, digits and '_', not starting with a digit",
    _LABEL_KEY.pattern: "a label key is letters, digits, '.', '_', '/', '-' (e.g. org.example)",
}


def parse_build_args(values: Iterable[str]) -> dict[str, str]:
    """``--build-arg`` values as a dict; a repeated name keeps the last value, as docker does."""
    return dict(parse_pair(v, option="--build-arg") for v in values)


def parse_labels(values: Iterable[str]) -> dict[str, str]:
    """``--label`` values as a dict; a repeated key keeps the last value."""
    return dict(parse_pair(v, option="--label", key_pattern=_LABEL_KEY) for v in values)
