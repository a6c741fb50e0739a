"""Where MLflow lives, model names and version numbers: no MLflow import, no network."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from mltoolkit.cli.main import main
from mltoolkit.errors import ExternalError, InputError
from mltoolkit.models.location import (
    Location,
    check_model_name,
    normalise_version,
    public_uri,
    resolve_location,
)
from mltoolkit.models.store import apply_mlflow_env, filter_string, probe_server


def test_embedded_default_lives_under_dot_mltoolkit(tmp_path: Path) -> None:
    loc = resolve_location({}, tmp_path)
    assert loc.embedded
    assert loc.tracking_uri == f"sqlite:///{tmp_path.resolve()}/.mltoolkit/mlflow.db"
    assert loc.registry_uri == loc.tracking_uri
    assert loc.artifact_root == tmp_path.resolve() / ".mltoolkit" / "artifacts"


def test_tracking_and_registry_uris_from_the_environment(tmp_path: Path) -> None:
    loc = resolve_location({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path)
    assert not loc.embedded
    assert loc.is_http
    assert loc.registry_uri == "http://mlflow:5000"
    uc = resolve_location(
        {"MLFLOW_TRACKING_URI": "databricks", "MLFLOW_REGISTRY_URI": "databricks-uc"}, tmp_path
    )
    assert uc.unity_catalog
    assert not uc.is_http


def test_credentials_never_shown() -> None:
    assert (
        public_uri("https://alice:s3cret@mlflow.example:8443/x") == "https://mlflow.example:8443/x"
    )
    assert "s3cret" not in Location("http://u:s3cret@h:1", "x").describe()


# NOTE: Unity Catalog itself cannot be reached from here (no Databricks workspace); these tests
# check the name rules applied when the registry URI is databricks-uc, not a UC registration.
@pytest.mark.parametrize("name", ["main.ml.fraud", "dev_cat.team-a.card_fraud_v2"])
def test_unity_catalog_accepts_three_level_names(name: str) -> None:
    assert check_model_name(name, Location("databricks", "databricks-uc")) == name


@pytest.mark.parametrize(
    "name", ["fraud", "main.fraud", "a.b.c.d", "main..fraud", "main.ml.fr aud"]
)
def test_unity_catalog_refuses_other_names(name: str) -> None:
    with pytest.raises(InputError, match="not a Unity Catalog name"):
        check_model_name(name, Location("databricks", "databricks-uc"))


@pytest.mark.parametrize("name", ["card-fraud", "main.ml.fraud", "Fraud model 2"])
def test_other_registries_accept_plain_names(name: str) -> None:
    assert check_model_name(name, Location("http://h", "http://h")) == name


@pytest.mark.parametrize("name", ["", " x", "a/b", "it's", "a`b", "tab\there"])
def test_names_that_break_uris_or_filters_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        check_model_name(name, Location("http://h", "http://h"))


def test_versions_are_ints_whatever_the_backend_returns() -> None:
    assert normalise_version(3) == 3
    assert normalise_version("3") == 3
    assert normalise_version(" 12 ") == 12
    for bad in ("0", "-1", "1.5", "latest", True):
        with pytest.raises(InputError):
            normalise_version(bad)


def test_filter_string_quotes_tag_keys_and_refuses_quotes() -> None:
    text = filter_string(
        "m", {"mltoolkit.image.digest": "sha256:ab", "mltoolkit.source": "runs:/x/model"}
    )
    assert text == (
        "name = 'm' and tags.`mltoolkit.image.digest` = 'sha256:ab'"
        " and tags.`mltoolkit.source` = 'runs:/x/model'"
    )
    with pytest.raises(InputError, match="quote"):
        filter_string("m", {"mltoolkit.source": "it's"})


def test_mlflow_retry_settings_keep_user_values() -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"}
    apply_mlflow_env(env)
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
    assert env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "6"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_server_fails_fast_with_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(SystemExit) as info:
        main(["status", "fraud"])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert info.value.code == 3
    assert elapsed < 30
    assert "does not answer" in err
    assert "Traceback" not in err


def test_silent_server_times_out_with_exit_3() -> None:
    # Accepts connections (the kernel's backlog) but never answers: the read timeout decides.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(ExternalError, match="does not answer"):
            probe_server(Location(f"http://127.0.0.1:{port}", "x"))
        assert time.monotonic() - start < 30
