"""The process-wide register of secrets that nothing mltoolkit prints or writes may contain.

GitHub masks a value in its logs once told with ``::add-mask::``; GitLab masks only variables
declared masked in its settings. Neither masks what a program writes to files. So every adapter
registers secrets here and passes all text it prints or writes through ``redact``.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

REDACTED = "***"

# A line this short is too common to redact on its own (it would blank out ordinary text);
# the whole secret is still registered.
_MIN_PART = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def _variants(secret: str) -> set[str]:
    """The forms a secret is likely to be printed in: whole, per line, JSON- and URL-escaped."""
    found = {secret, secret.strip()}
    for part in secret.splitlines():
        line = part.strip()
        if len(line) >= _MIN_PART:
            found.add(line)
    for form in list(found):
        found.add(json.dumps(form)[1:-1])
        found.add(quote(form, safe=""))
    return {form for form in found if form}


def register(secret: str) -> list[str]:
    """Remember ``secret`` (and its variants); returns the lines a log masker must be told of."""
    if not secret.strip():
        return []
    with _lock:
        _secrets.update(_variants(secret))
    lines = [part.strip() for part in secret.splitlines()]
    if len([line for line in lines if line]) == 1:
        return [secret.strip()]
    return [line for line in lines if len(line) >= _MIN_PART]


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``, longest first."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds any registered secret."""
    with _lock:
        return any(secret in text for secret in _secrets)


def forget_all() -> None:
    """Drop every registered secret (for tests: a process normally keeps them to its end)."""
    with _lock:
        _secrets.clear()
