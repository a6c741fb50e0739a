"""The small value formats of a policy: names, durations, metric thresholds, hosts, repositories.

The patterns are shared with ``schema.json`` (a unit test checks that they are the same text), so
that an editor using the schema and the loader accept the same values. They use only syntax that
ECMA-262 and Python's ``re`` read alike.
"""

from __future__ import annotations

import re
from datetime import timedelta

from mltoolkit.policy.model import THRESHOLD_OPERATORS, Threshold

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
DURATION_PATTERN = r"^[1-9][0-9]*[smhdw]$"
THRESHOLD_PATTERN = r"^(>=|<=|==|>|<) *-?([0-9]+([.][0-9]+)?|[.][0-9]+)([eE][-+]?[0-9]+)?$"
HOST_PATTERN = (
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
    r"([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?$"
)
_COMPONENT = r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*"
REPOSITORY_PATTERN = rf"^([A-Za-z0-9.-]+(:[0-9]{{1,5}})?/)?{_COMPONENT}(/{_COMPONENT})*$"
KMS_URI_PATTERN = r"^(awskms|gcpkms|azurekms|hashivault)://[^\s]+$"
_SPARK_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)"
SPARK_MASTER_PATTERN = (
    r"^(local(\[([1-9][0-9]*|\*)(,[1-9][0-9]*)?\])?"
    r"|local-cluster\[[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*\]"
    rf"|spark://{_SPARK_HOST}:[0-9]{{1,5}}(,{_SPARK_HOST}:[0-9]{{1,5}})*"
    rf"|yarn|k8s://(https?://)?{_SPARK_HOST}(:[0-9]{{1,5}})?)$"
)
# No userinfo and no token: a policy file is committed, and argv shows in process lists.
SPARK_REMOTE_PATTERN = (
    rf"^(databricks|sc://{_SPARK_HOST}(:[0-9]{{1,5}})?(/(;(?!token=)[a-z_]+=[^;\s]*)*)?)$"
)
SPARK_CONF_KEY_PATTERN = r"^spark[.][A-Za-z0-9._-]+$"

DURATION_HINT = "a duration like 30m, 72h or 7d"
THRESHOLD_HINT = "a threshold like '>= 0.90' (one of " + ", ".join(THRESHOLD_OPERATORS) + ")"
HOST_HINT = "a registry host like registry.local:5000 (host[:port], no scheme or path)"
REPOSITORY_HINT = "a repository like registry.example.com/team/model (no tag or digest)"
KMS_URI_HINT = "a KMS URI (awskms://, gcpkms://, azurekms:// or hashivault://)"
SPARK_MASTER_HINT = "a Spark master: local[*], local[N], spark://HOST:PORT, yarn or k8s://..."
SPARK_REMOTE_HINT = "a Spark Connect URL sc://HOST[:PORT][/;use_ssl=true] or databricks"

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``72h``, ``7d`` (also ``s`` and ``w``) as a timedelta; None if malformed."""
    if re.fullmatch(DURATION_PATTERN, text) is None:
        return None
    try:
        return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})
    except OverflowError:
        return None


def parse_threshold(text: str) -> Threshold | None:
    """``>= 0.90`` as Threshold(">=", 0.9); None if malformed."""
    match = re.fullmatch(THRESHOLD_PATTERN, text)
    if match is None:
        return None
    value = float(text[len(match.group(1)) :].strip())
    if value in (float("inf"), float("-inf")):
        return None
    return Threshold(match.group(1), value)


def valid_host(text: str) -> bool:
    """True for ``host``, ``host:port`` or ``[v6]:port`` with a port in 1..65535."""
    if re.fullmatch(HOST_PATTERN, text) is None:
        return False
    port = text.rsplit(":", 1)[1] if ":" in text and not text.endswith("]") else None
    return port is None or 1 <= int(port) <= 65535
