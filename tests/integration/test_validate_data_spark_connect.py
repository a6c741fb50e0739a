"""``validate-data spark:PATH`` on a real Spark Connect server, and Databricks Connect wiring.

The server is the one pyspark ships (``jars/spark-connect_*.jar``), started on a free loopback
port with an authentication token, as a real deployment would run it. Databricks Connect itself
cannot run here: its session builder is replaced by a FAKE ``databricks.connect`` module that
hands back a real Spark Connect session on that same server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip("pyspark")
pytest.importorskip("grpc")

SUITES = Path(__file__).parents[1] / "data" / "suites"
TOKEN = "spark-connect-test-token-7f3a"
START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def spark_connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1 (local[2], token required); yields its sc:// URL."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    logs = tmp_path_factory.mktemp("spark-connect")
    log = (logs / "server.log").open("wb")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_CONNECT_AUTHENTICATE_TOKEN": TOKEN,
    }
    env.pop("SPARK_REMOTE", None)
    server = subprocess.Popen(
        [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--name",
            "mltoolkit-test-spark-connect",
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            f"spark.local.dir={logs}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: spark-submit's JVM goes with it
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                tail = (logs / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"the Spark Connect server exited: {tail}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the Spark Connect server did not listen in time")
                time.sleep(1)
        # Without ;use_ssl=true pyspark sends a token only to "localhost" (local credentials).
        yield f"sc://localhost:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared 400 transactions as a directory of two Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = range(1, 401)
    table = pa.table(
        {
            "id": list(rows),
            "amount": [(i * 37 % 1000) + 0.5 for i in rows],
            "currency": [("EUR", "USD", "GBP")[i % 3] for i in rows],
            "merchant": [f"m{i % 50}" for i in rows],
            "is_fraud": [int(i % 20 == 0) for i in rows],
        }
    )
    folder = tmp_path_factory.mktemp("spark-data") / "tx"
    folder.mkdir()
    pq.write_table(table.slice(0, 200), folder / "part-0.parquet")
    pq.write_table(table.slice(200), folder / "part-1.parquet")
    return folder


def _validate(
    tmp_path: Path, suite: str, data: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path / f"{suite}-{len(list(tmp_path.iterdir()))}.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    base.pop("MLTOOLKIT_SPARK_MASTER", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltoolkit",
            "validate-data",
            "--suite",
            str(SUITES / f"{suite}.yaml"),
            "--data",
            f"spark:{data}",
            "--json",
            str(report),
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**base, "MLTOOLKIT_PLATFORM": "local", **(env or {})},
    )
    doc = json.loads(report.read_text()) if report.exists() else {}
    return done, doc


def _comparable(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (r["type"], r["status"], r["observed_value"], r["unexpected_count"], r["element_count"])
        for r in doc["results"]
    ]


def test_the_same_suite_fails_the_same_way_on_spark_connect_and_local(
    spark_connect: str, transactions: Path, tmp_path: Path
) -> None:
    local, local_doc = _validate(
        tmp_path, "transactions_strict", transactions, "--spark-master", "local[1]"
    )
    remote, remote_doc = _validate(
        tmp_path,
        "transactions_strict",
        transactions,
        "--spark-remote",
        spark_connect,
        env={"SPARK_CONNECT_AUTHENTICATE_TOKEN": TOKEN},
    )
    assert local.returncode == 1, local.stderr
    assert remote.returncode == 1, remote.stderr
    assert "205 unexpected of 400" in remote.stderr
    assert _comparable(remote_doc) == _comparable(local_doc)
    assert [r["status"] for r in remote_doc["results"]] == ["passed", "failed", "failed", "failed"]
    assert remote_doc["fingerprint"] == local_doc["fingerprint"]
    assert local_doc["data"]["spark"] == {"master": "local[1]", "from": "--spark-master"}
    assert remote_doc["data"]["spark"] == {"remote": spark_connect, "from": "--spark-remote"}
    assert TOKEN not in remote.stdout + remote.stderr


def test_a_passing_suite_on_the_remote_chosen_by_the_policy(
    spark_connect: str, transactions: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "mltoolkit.yaml"
    policy.write_text(
        "version: 1\n"
        "data:\n"
        "  spark:\n"
        f"    remote: {spark_connect}\n"
        "    conf: {spark.sql.shuffle.partitions: 3}\n"
    )
    done, doc = _validate(
        tmp_path,
        "transactions",
        transactions,
        # The policy wins over the environment, whose master would otherwise apply.
        env={"SPARK_CONNECT_AUTHENTICATE_TOKEN": TOKEN, "MLTOOLKIT_SPARK_MASTER": "local[1]"},
    )
    assert done.returncode == 0, done.stderr
    assert doc["verdict"] == "pass"
    assert doc["data"]["spark"] == {"remote": spark_connect, "from": f"{policy.name}:4"}


def test_a_token_in_spark_remote_is_used_and_never_shown(
    spark_connect: str, transactions: Path, tmp_path: Path
) -> None:
    done, doc = _validate(
        tmp_path,
        "transactions",
        transactions,
        env={"SPARK_REMOTE": f"{spark_connect}/;token={TOKEN};user_id=ci"},
    )
    assert done.returncode == 0, done.stderr
    assert doc["data"]["spark"] == {
        "remote": f"{spark_connect}/;user_id=ci",
        "from": "$SPARK_REMOTE",
    }
    assert TOKEN not in done.stdout + done.stderr + json.dumps(doc)


def test_a_wrong_token_is_refused_in_one_line(
    spark_connect: str, transactions: Path, tmp_path: Path
) -> None:
    done, _ = _validate(
        tmp_path,
        "transactions",
        transactions,
        "--spark-remote",
        spark_connect,
        env={"SPARK_CONNECT_AUTHENTICATE_TOKEN": "not-the-token"},
    )
    assert done.returncode == 3, done.stderr
    assert "UNAUTHENTICATED" in done.stderr
    assert "not-the-token" not in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_remote_fails_fast_with_exit_3(transactions: Path, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    done, _ = _validate(
        tmp_path, "transactions", transactions, "--spark-remote", f"sc://127.0.0.1:{port}"
    )
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, done.stderr
    assert f"cannot reach the Spark Connect server at 127.0.0.1:{port}" in lines[0]
    assert "from --spark-remote" in lines[0]
    # Bounded by the 5 s reachability check, not by pyspark's minutes of retries; the rest
    # is interpreter start-up and imports (a generous bound for a loaded 2-core machine).
    assert time.monotonic() - started < 120


# -- Databricks Connect, through a FAKE databricks.connect ------------------------------------


def _fake_databricks_connect(url: str) -> types.ModuleType:
    """FAKE ``databricks.connect``: ``DatabricksSession.builder.getOrCreate()`` returns a real
    Spark Connect session on the local server, as Databricks Connect returns one on a cluster."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    calls: list[str] = []

    class _Builder:
        def getOrCreate(self) -> Any:
            calls.append("getOrCreate")
            return ConnectSession.builder.remote(url).create()

    class DatabricksSession:
        builder = _Builder()

    module = types.ModuleType("databricks.connect")
    module.DatabricksSession = DatabricksSession  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    return module


def test_remote_databricks_uses_databricks_connect(
    spark_connect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltoolkit.data.spark_placement import resolve_placement
    from mltoolkit.data.spark_session import spark_session

    fake = _fake_databricks_connect(spark_connect)
    monkeypatch.setitem(sys.modules, "databricks.connect", fake)
    monkeypatch.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", TOKEN)
    placement = resolve_placement(cli_master=None, cli_remote="databricks", policy=None, environ={})
    assert placement.kind == "databricks"
    assert placement.describe() == {"remote": "databricks", "from": "--spark-remote"}
    session = spark_session(placement)
    try:
        assert fake.calls == ["getOrCreate"]
        assert session.range(7).count() == 7
    finally:
        session.stop()


def test_policy_conf_is_set_on_the_remote_session_and_a_static_one_is_refused(
    spark_connect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltoolkit.data.spark_placement import SparkPlacement
    from mltoolkit.data.spark_session import spark_session
    from mltoolkit.errors import InputError

    monkeypatch.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", TOKEN)
    runtime = (("spark.sql.shuffle.partitions", "3"),)
    session = spark_session(SparkPlacement(None, spark_connect, runtime, "mltoolkit.yaml:4"))
    try:
        assert session.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        session.stop()
    static = (("spark.driver.memory", "2g"),)
    with pytest.raises(InputError) as caught:
        spark_session(SparkPlacement(None, spark_connect, static, "mltoolkit.yaml:4"))
    assert caught.value.diagnostics().startswith(
        f"spark remote {spark_connect} from mltoolkit.yaml:4: "
        "the remote Spark session refused spark.driver.memory"
    )
