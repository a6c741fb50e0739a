"""Where Spark runs for ``spark:PATH``: precedence, URL checks, redaction, the policy section."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from mltoolkit.cli import main as cli_main
from mltoolkit.data.spark_placement import (
    SparkPlacement,
    check_master,
    check_remote,
    connect_address,
    redact_remote,
    resolve_placement,
)
from mltoolkit.errors import InputError
from mltoolkit.policy import SparkSettings, load_policy
from mltoolkit.policy.schema import schema

SUITES = Path(__file__).parents[1] / "data" / "suites"
FROM_POLICY = SparkSettings(master="spark://p:7077", origin="mltoolkit.yaml:4")


def place(
    master: str | None = None,
    remote: str | None = None,
    policy: SparkSettings | None = None,
    **environ: str,
) -> SparkPlacement:
    return resolve_placement(cli_master=master, cli_remote=remote, policy=policy, environ=environ)


def test_options_win_then_the_policy_then_the_environment_then_local() -> None:
    env = {"SPARK_REMOTE": "sc://env:15002"}
    assert place("local[2]", None, FROM_POLICY, **env).describe() == {
        "master": "local[2]",
        "from": "--spark-master",
    }
    assert place(None, "sc://cli", FROM_POLICY, **env).describe() == {
        "remote": "sc://cli",
        "from": "--spark-remote",
    }
    assert place(None, None, FROM_POLICY, **env).describe() == {
        "master": "spark://p:7077",
        "from": "mltoolkit.yaml:4",
    }
    assert place(None, None, SparkSettings(), **env).describe() == {
        "remote": "sc://env:15002",
        "from": "$SPARK_REMOTE",
    }
    assert place(MLTOOLKIT_SPARK_MASTER="yarn").describe() == {
        "master": "yarn",
        "from": "$MLTOOLKIT_SPARK_MASTER",
    }
    assert place() == SparkPlacement("local[*]", None, (), "default")


def test_the_policy_conf_applies_wherever_spark_runs() -> None:
    policy = SparkSettings(conf={"spark.driver.memory": "3g", "spark.a": "1"})
    assert place("local[1]", policy=policy).conf == (
        ("spark.a", "1"),
        ("spark.driver.memory", "3g"),
    )
    assert place(None, "sc://h", policy).conf == (("spark.a", "1"), ("spark.driver.memory", "3g"))


def test_exactly_one_of_master_and_remote() -> None:
    with pytest.raises(InputError, match="give --spark-master or --spark-remote, not both"):
        place("local[1]", "sc://h")
    with pytest.raises(InputError, match=r"environment: both \$SPARK_REMOTE and"):
        place(SPARK_REMOTE="sc://h", MLTOOLKIT_SPARK_MASTER="local[1]")


@pytest.mark.parametrize(
    "master",
    [
        "local",
        "local[*]",
        "local[4]",
        "local[2,3]",
        "spark://a:7077,b:7077",
        "yarn",
        "k8s://https://k:6443",
    ],
)
def test_master_urls_spark_knows(master: str) -> None:
    assert check_master(master, "--spark-master") == master


@pytest.mark.parametrize("master", ["local[0]", "spark://nohost", "mesos://m:5050", "sc://h", ""])
def test_bad_master_names_where_it_came_from(master: str) -> None:
    with pytest.raises(InputError) as caught:
        place(MLTOOLKIT_SPARK_MASTER=master) if master else check_master(master, "$X")
    text = caught.value.diagnostics()
    assert "not a Spark master URL" in text
    assert text.startswith("$MLTOOLKIT_SPARK_MASTER: " if master else "$X: ")


def test_a_token_is_refused_on_the_command_line_and_accepted_from_the_environment() -> None:
    secret = "sc://h:443/;use_ssl=true;token=s3cr3t"
    with pytest.raises(InputError) as caught:
        place(None, secret)
    text = caught.value.diagnostics()
    assert text.startswith("--spark-remote: a token in the Spark Connect URL")
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" in text
    assert "s3cr3t" not in text
    placement = place(SPARK_REMOTE=secret)
    assert placement.remote == secret  # the client needs it
    assert placement.describe() == {"remote": "sc://h:443/;use_ssl=true", "from": "$SPARK_REMOTE"}


@pytest.mark.parametrize(
    "remote", ["sc://u:pw@h:15002", "http://h:15002", "sc://", "sc://h:15002/;token=pw;bad param=1"]
)
def test_bad_remotes_are_refused_without_echoing_secrets(remote: str) -> None:
    with pytest.raises(InputError) as caught:
        check_remote(remote, "$SPARK_REMOTE", token_allowed=True)
    text = caught.value.diagnostics()
    assert text.startswith("$SPARK_REMOTE: ")
    assert "pw" not in text


def test_redaction_and_address() -> None:
    assert (
        redact_remote("sc://u:p@h:1/;token=t;use_ssl=true;x_secret=s") == "sc://h:1/;use_ssl=true"
    )
    assert redact_remote("databricks") == "databricks"
    assert connect_address("sc://h") == ("h", 15002)
    assert connect_address("sc://[::1]:7/;token=x") == ("::1", 7)
    assert connect_address("sc://u:p@10.0.0.1:99") == ("10.0.0.1", 99)


def test_databricks_without_databricks_connect_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pyspark")
    from mltoolkit.data.spark_session import spark_session

    monkeypatch.setitem(sys.modules, "databricks.connect", None)  # not installed
    placement = place(None, None, SparkSettings(remote="databricks", origin="mltoolkit.yaml:3"))
    with pytest.raises(InputError) as caught:
        spark_session(placement)
    assert caught.value.exit_code == 2
    assert caught.value.diagnostics() == (
        "spark remote databricks from mltoolkit.yaml:3: databricks-connect is not installed; "
        "pip install databricks-connect (matching your cluster's Databricks Runtime), then set "
        "DATABRICKS_HOST, DATABRICKS_TOKEN and DATABRICKS_CLUSTER_ID"
    )


# -- the policy's data.spark section: loader and schema agree ---------------------------------


def write_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mltoolkit.yaml"
    path.write_text("version: 1\n" + textwrap.dedent(body))
    return path


def test_policy_master_remote_and_conf(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        data:
          spark:
            remote: sc://spark.internal:15002/;use_ssl=true
            conf:
              spark.sql.shuffle.partitions: 16
              spark.sql.ansi.enabled: true
              spark.driver.memory: 2g
        """,
    )
    spark = load_policy(path).data.spark
    assert (spark.master, spark.remote, spark.origin) == (
        None,
        "sc://spark.internal:15002/;use_ssl=true",
        f"{path}:4",
    )
    assert dict(spark.conf) == {
        "spark.sql.shuffle.partitions": "16",
        "spark.sql.ansi.enabled": "true",
        "spark.driver.memory": "2g",
    }
    assert load_policy(path).to_dict()["data"]["spark"]["conf"]["spark.driver.memory"] == "2g"
    jsonschema.validate(yaml.safe_load(path.read_text()), schema())
    assert (
        load_policy(
            write_policy(tmp_path, "data: {spark: {master: 'local[2]'}}\n")
        ).data.spark.master
        == "local[2]"
    )


BAD_SPARK = {
    "both": (
        "data:\n  spark:\n    master: local[2]\n    remote: sc://h\n",
        "mltoolkit.yaml:5: data.spark.remote: give 'master' or 'remote', not both",
    ),
    "bad master": (
        "data:\n  spark:\n    master: spark://nohost\n",
        "mltoolkit.yaml:4: data.spark.master: must be a Spark master",
    ),
    "bad remote": (
        "data:\n  spark:\n    remote: http://h\n",
        "mltoolkit.yaml:4: data.spark.remote: must be a Spark Connect URL",
    ),
    "token in the policy": (
        "data:\n  spark:\n    remote: sc://h/;token=s3cr3t\n",
        "mltoolkit.yaml:4: data.spark.remote: must not hold a token or user:password",
    ),
    "conf key not spark.*": (
        "data:\n  spark:\n    conf: {driver.memory: 2g}\n",
        "mltoolkit.yaml:4: data.spark.conf.driver.memory: Spark settings are named spark.*",
    ),
    "master in conf": (
        "data:\n  spark:\n    conf:\n      spark.master: local\n",
        "mltoolkit.yaml:5: data.spark.conf.spark.master: set it as data.spark.master",
    ),
    "conf value a list": (
        "data:\n  spark:\n    conf: {spark.jars: [a, b]}\n",
        "mltoolkit.yaml:4: data.spark.conf.spark.jars: must be a single value",
    ),
    "unknown key": (
        "data:\n  spark:\n    mastr: local\n",
        "mltoolkit.yaml:4: data.spark.mastr: unknown key",
    ),
}


@pytest.mark.parametrize(("body", "expected"), BAD_SPARK.values(), ids=list(BAD_SPARK))
def test_bad_spark_sections_are_refused_by_loader_and_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_policy(tmp_path, body)
    with pytest.raises(InputError) as caught:
        load_policy(Path(path.name))
    assert caught.value.diagnostics().startswith(expected)
    assert "s3cr3t" not in caught.value.diagnostics()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema())


# -- the CLI: options and policy reach the placement, errors exit 2 before Spark starts -------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        cli_main.main(list(args))
    return int(caught.value.code or 0), capsys.readouterr().err


@pytest.fixture
def spark_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "local")
    for name in ("SPARK_REMOTE", "MLTOOLKIT_SPARK_MASTER", "MLTOOLKIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "tx").mkdir()
    return f"spark:{tmp_path / 'tx'}"


def cli_args(data: str, *extra: str) -> list[str]:
    return ["validate-data", "--suite", str(SUITES / "transactions.yaml"), "--data", data, *extra]


def test_cli_refuses_both_options(capsys: pytest.CaptureFixture[str], spark_data: str) -> None:
    code, err = run(
        capsys, *cli_args(spark_data, "--spark-master", "local", "--spark-remote", "sc://h")
    )
    assert code == 2
    assert "give --spark-master or --spark-remote, not both" in err


def test_cli_bad_policy_value_exits_2_with_file_and_line(
    capsys: pytest.CaptureFixture[str], spark_data: str, tmp_path: Path
) -> None:
    write_policy(tmp_path, "data:\n  spark:\n    master: local[0]\n")
    code, err = run(capsys, *cli_args(spark_data))
    assert code == 2
    assert "mltoolkit.yaml:4: data.spark.master: must be a Spark master" in err


def test_cli_bad_remote_option_exits_2(capsys: pytest.CaptureFixture[str], spark_data: str) -> None:
    code, err = run(capsys, *cli_args(spark_data, "--spark-remote", "sc://h/;token=s3cr3t"))
    assert code == 2
    assert "--spark-remote: a token in the Spark Connect URL" in err
    assert "s3cr3t" not in err


def test_cli_remote_only_for_spark_data(
    capsys: pytest.CaptureFixture[str], spark_data: str, tmp_path: Path
) -> None:
    (tmp_path / "tx.csv").write_text("id\n1\n")
    code, err = run(capsys, *cli_args(str(tmp_path / "tx.csv"), "--spark-remote", "sc://h"))
    assert code == 2
    assert "--spark-remote only goes with spark:PATH data" in err
