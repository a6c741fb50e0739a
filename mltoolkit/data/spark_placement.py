"""Where Spark runs for ``spark:PATH`` data: a master URL or a Spark Connect remote.

Chosen in this order, the first that says anything wins:

1. ``--spark-remote URL`` or ``--spark-master URL`` (not both);
2. the policy's ``data.spark`` section (``remote`` or ``master``);
3. the environment: ``$SPARK_REMOTE`` (as pyspark reads it) or ``$MLTOOLKIT_SPARK_MASTER``;
4. ``local[*]``.

The policy's ``data.spark.conf`` applies wherever Spark runs. A remote is ``sc://HOST[:PORT]``
(Spark Connect) or ``databricks`` (Databricks Connect, configured by its own environment). Bad
values are InputErrors naming where they came from. Tokens come only from the environment
(``$SPARK_CONNECT_AUTHENTICATE_TOKEN`` or ``$SPARK_REMOTE``) and never appear in any output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mltoolkit.errors import InputError
from mltoolkit.policy import values
from mltoolkit.policy.model import SparkSettings

DEFAULT_MASTER = "local[*]"
DATABRICKS = "databricks"
DEFAULT_CONNECT_PORT = 15002
MASTER_ENV = "MLTOOLKIT_SPARK_MASTER"
REMOTE_ENV = "SPARK_REMOTE"
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"  # noqa: S105 - a variable name
_SECRET_PARAM = re.compile(r"token|secret|password|key", re.IGNORECASE)


@dataclass(frozen=True)
class SparkPlacement:
    """Exactly one of ``master`` and ``remote``, the session's ``conf``, and where the choice
    came from (``origin``: an option, ``file:line`` of the policy, a variable, or ``default``)."""

    master: str | None = DEFAULT_MASTER
    remote: str | None = None
    conf: tuple[tuple[str, str], ...] = ()
    origin: str = "default"

    @property
    def kind(self) -> str:
        """``master``, ``remote`` (Spark Connect) or ``databricks``."""
        if self.remote == DATABRICKS:
            return DATABRICKS
        return "remote" if self.remote is not None else "master"

    @property
    def shown(self) -> str:
        """The master or the remote, without credentials."""
        return redact_remote(self.remote) if self.remote is not None else str(self.master)

    def describe(self) -> dict[str, str]:
        """Where it ran, for results: ``{"master"|"remote": URL, "from": origin}``."""
        key = "master" if self.remote is None else "remote"
        return {key: self.shown, "from": self.origin}


def resolve_placement(
    *,
    cli_master: str | None,
    cli_remote: str | None,
    policy: SparkSettings | None,
    environ: Mapping[str, str],
) -> SparkPlacement:
    """Where Spark runs, by the precedence in this module's docstring."""
    conf = tuple(sorted(policy.conf.items())) if policy is not None else ()
    if cli_master and cli_remote:
        raise InputError(
            "give --spark-master or --spark-remote, not both",
            where="validate-data",
            fix="--spark-master for a cluster manager, --spark-remote for Spark Connect",
        )
    if cli_remote:
        remote = check_remote(cli_remote, where="--spark-remote", token_allowed=False)
        return SparkPlacement(None, remote, conf, "--spark-remote")
    if cli_master:
        return SparkPlacement(
            check_master(cli_master, "--spark-master"), None, conf, "--spark-master"
        )
    if policy is not None and (policy.master or policy.remote):
        origin = policy.origin or "policy"
        if policy.remote:
            return SparkPlacement(None, policy.remote, conf, origin)
        return SparkPlacement(policy.master, None, conf, origin)
    env_remote = environ.get(REMOTE_ENV) or None
    env_master = environ.get(MASTER_ENV) or None
    if env_remote and env_master:
        raise InputError(
            f"both ${REMOTE_ENV} and ${MASTER_ENV} are set",
            where="environment",
            fix="unset one, or choose with --spark-master / --spark-remote",
        )
    if env_remote:
        where = f"${REMOTE_ENV}"
        return SparkPlacement(None, check_remote(env_remote, where, True), conf, where)
    if env_master:
        where = f"${MASTER_ENV}"
        return SparkPlacement(check_master(env_master, where), None, conf, where)
    return SparkPlacement(DEFAULT_MASTER, None, conf, "default")


def check_master(text: str, where: str) -> str:
    """``text`` if it is a Spark master URL, else an InputError at ``where``."""
    if "@" not in text and re.fullmatch(values.SPARK_MASTER_PATTERN, text):
        return text
    shown = "(a URL with user:password)" if "@" in text else repr(text)
    raise InputError(
        f"not a Spark master URL: {shown}", where=where, fix=f"give {values.SPARK_MASTER_HINT}"
    )


def check_remote(text: str, where: str, token_allowed: bool) -> str:
    """``text`` if it is ``sc://...`` or ``databricks``, else an InputError at ``where``.

    A token is refused unless ``token_allowed`` (values from the environment): in argv it
    would show in the process list, in the policy it would be committed.
    """
    netloc = text.removeprefix("sc://").split("/", 1)[0]
    if text.startswith("sc://") and "@" in netloc:
        raise InputError(
            "user:password in a Spark Connect URL is not supported",
            where=where,
            fix=f"remove it; set the token in ${TOKEN_ENV}",
        )
    params = _params(text)
    has_token = any(name.lower() == "token" for name, _ in params)
    if has_token and not token_allowed:
        raise InputError(
            "a token in the Spark Connect URL would show in the process list and logs",
            where=where,
            fix=f"remove ;token=... and set ${TOKEN_ENV} (or the whole URL in ${REMOTE_ENV})",
        )
    bare = _without_params(text, lambda name: name.lower() == "token")
    if re.fullmatch(values.SPARK_REMOTE_PATTERN, bare) is None:
        raise InputError(
            f"not a Spark Connect URL: {redact_remote(text)!r}",
            where=where,
            fix=f"give {values.SPARK_REMOTE_HINT}",
        )
    return text


def redact_remote(url: str) -> str:
    """``url`` without userinfo and without token-like parameters (for any output)."""
    if not url.startswith("sc://"):
        return url
    netloc = url.removeprefix("sc://").split("/", 1)[0].rsplit("@", 1)[-1]
    kept = [f"{name}={value}" for name, value in _params(url) if not _SECRET_PARAM.search(name)]
    return f"sc://{netloc}" + ("/;" + ";".join(kept) if kept else "")


def connect_address(url: str) -> tuple[str, int]:
    """The host and port of an ``sc://`` URL (Spark Connect's default port when absent)."""
    netloc = url.removeprefix("sc://").split("/", 1)[0].rsplit("@", 1)[-1]
    match = re.fullmatch(r"\[([^\]]+)\](?::([0-9]+))?|([^:]+)(?::([0-9]+))?", netloc)
    if match is None:
        return netloc, DEFAULT_CONNECT_PORT
    host = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4)
    return host, int(port) if port else DEFAULT_CONNECT_PORT


def _params(url: str) -> list[tuple[str, str]]:
    if not url.startswith("sc://") or "/" not in url.removeprefix("sc://"):
        return []
    path = url.removeprefix("sc://").split("/", 1)[1]
    pairs = []
    for item in path.split(";"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
    return pairs


def _without_params(url: str, drop: Callable[[str], bool]) -> str:
    params = _params(url)
    if not params:
        return url
    head = url.split("/", 3)
    base = "/".join(head[:3])
    kept = [f"{name}={value}" for name, value in params if not drop(name)]
    return base + ("/;" + ";".join(kept) if kept else "")
