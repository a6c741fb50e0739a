"""The SparkSession that validates ``spark:PATH`` data, wherever ``SparkPlacement`` says it runs.

- a master URL (``local[*]``, ``spark://...``, ``yarn``, ...): classic pyspark, JVM driver here;
- ``sc://HOST:PORT``: a Spark Connect client (``pyspark[connect]``), after a bounded reachability
  check so that a dead server fails in seconds (exit 3), not after pyspark's minutes of retries;
- ``databricks``: Databricks Connect (``databricks-connect``), which reads its workspace, token
  and cluster from ``DATABRICKS_*`` variables or ``~/.databrickscfg``, never from argv.

pyspark is imported only in here, inside the functions.
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from typing import Any

from mltoolkit.data.spark_placement import (
    DATABRICKS,
    REMOTE_ENV,
    TOKEN_ENV,
    SparkPlacement,
    connect_address,
)
from mltoolkit.errors import ExternalError, InputError

CONNECT_TIMEOUT_SECONDS = 5.0
# Spark Connect retries an unavailable server for up to ~10 minutes by default; this bounds
# it to a few seconds (50 ms, x4 per try, at most 2 s apart, 5 tries).
_CONNECT_RETRIES = 5
_CONNECT_MAX_BACKOFF_MS = 2000


def spark_session(placement: SparkPlacement) -> Any:
    """A SparkSession on ``placement``; InputError when a client library is missing,
    ExternalError when Spark cannot be started or reached."""
    _require("pyspark", "pip install 'mltoolkit[spark]'")
    if placement.kind == DATABRICKS:
        return _databricks_session(placement)
    if placement.remote is not None:
        return _connect_session(placement, placement.remote)
    return _classic_session(placement, str(placement.master))


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says a Spark Connect server could not be reached (not bad data)."""
    try:
        from pyspark.errors.exceptions.connect import SparkConnectGrpcException
    except ImportError:
        return False
    if not isinstance(exc, SparkConnectGrpcException):
        return False
    text = str(exc)
    return "UNAVAILABLE" in text or "DEADLINE_EXCEEDED" in text or "RETRIES_EXCEEDED" in text


def _require(module: str, fix: str) -> None:
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(f"{module} is not installed", where="spark:", fix=fix)


def _classic_session(placement: SparkPlacement, master: str) -> Any:
    from pyspark.sql import SparkSession

    # pyspark turns any builder into a Spark Connect client while $SPARK_REMOTE is set; a
    # master chosen above it (option or policy) must win.
    os.environ.pop(REMOTE_ENV, None)
    builder = (
        SparkSession.builder.master(master)
        .appName("mltoolkit-validate-data")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    for key, value in placement.conf:
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise ExternalError(
            f"cannot start Spark on {master}: {_one_line(exc)}",
            where=f"spark master from {placement.origin}",
            fix="check the master URL and that Java 17+ is installed",
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _connect_session(placement: SparkPlacement, url: str) -> Any:
    _require("grpc", "pip install 'mltoolkit[spark]' (Spark Connect needs pyspark[connect])")
    host, port = connect_address(url)
    where = f"spark remote {placement.shown} from {placement.origin}"
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise ExternalError(
            f"cannot reach the Spark Connect server at {host}:{port}: "
            f"{exc.strerror or type(exc).__name__}",
            where=where,
            fix="start the server (sbin/start-connect-server.sh) or fix the URL",
        ) from None
    # gRPC's C core logs every failed TLS handshake to stderr unless told otherwise.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from pyspark.sql import SparkSession

    session = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = SparkSession.builder.remote(url).create()
            _bound_retries(session)
            session.version  # noqa: B018 - the first round trip: a handshake failure shows here
    except Exception as exc:
        if session is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session.stop()
        raise ExternalError(
            f"Spark Connect refused the session: {_one_line(exc, url, placement.shown)}",
            where=where,
            fix=f"check the server and ${TOKEN_ENV} (without ;use_ssl=true pyspark sends a "
            "token only to sc://localhost)",
        ) from None
    _apply_conf(session, placement, where)
    return session


def _apply_conf(session: Any, placement: SparkPlacement, where: str) -> None:
    """Runtime settings on a remote session; a refused one (a static setting such as
    spark.driver.memory belongs where the server starts) is an error, not silently dropped."""
    for key, value in placement.conf:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session.conf.set(key, value)
        except Exception as exc:
            session.stop()
            raise InputError(
                f"the remote Spark session refused {key}: {_one_line(exc)}",
                where=where,
                fix=f"remove {key} from data.spark.conf, or set it where the server starts",
            ) from None


def _bound_retries(session: Any) -> None:
    try:
        from pyspark.sql.connect.client.retries import DefaultPolicy
    except ImportError:  # an older client: its own (longer) retry bound applies
        return
    session.client.set_retry_policies(
        [DefaultPolicy(max_retries=_CONNECT_RETRIES, max_backoff=_CONNECT_MAX_BACKOFF_MS)]
    )


def _databricks_session(placement: SparkPlacement) -> Any:
    try:
        from databricks.connect import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            DatabricksSession,
        )
    except ImportError:
        raise InputError(
            "databricks-connect is not installed",
            where=f"spark remote databricks from {placement.origin}",
            fix="pip install databricks-connect (matching your cluster's Databricks Runtime), "
            "then set DATABRICKS_HOST, DATABRICKS_TOKEN and DATABRICKS_CLUSTER_ID",
        ) from None
    where = f"spark remote databricks from {placement.origin}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = DatabricksSession.builder.getOrCreate()
    except Exception as exc:
        raise ExternalError(
            f"Databricks Connect failed: {_one_line(exc)}",
            where=where,
            fix="check DATABRICKS_HOST, DATABRICKS_TOKEN, DATABRICKS_CLUSTER_ID "
            "(or ~/.databrickscfg) and that the cluster runs",
        ) from None
    _apply_conf(session, placement, where)
    return session


def _one_line(exc: BaseException, secret: str | None = None, shown: str = "") -> str:
    """The error on one line; ``secret`` (a URL that may hold a token) replaced by ``shown``."""
    text = " ".join(str(exc).split())
    # A gRPC failure prints as a multi-line repr; its status and details say it all.
    rpc = re.search(r'status = StatusCode\.(\w+) details = "([^"]*)"', text)
    if rpc is not None:
        text = f"{rpc.group(1)}: {rpc.group(2)}"
    if secret:
        text = text.replace(secret, shown)
    return text[:300] or type(exc).__name__
