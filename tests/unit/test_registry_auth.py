"""Credentials from the Docker config and credential helpers, and challenge parsing.

The credential helper here is a FAKE ``docker-credential-fakestore`` shell script on PATH (real
helpers talk to OS keychains); the client runs it exactly as Docker does.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from mltoolkit.errors import ExitCode, ExternalError, InputError
from mltoolkit.oci.auth import (
    DOCKER_HUB_CONFIG_KEY,
    Challenge,
    Credentials,
    DockerCredentialStore,
    docker_config_path,
)


def store_with(tmp_path: Path, config: object) -> DockerCredentialStore:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return DockerCredentialStore(tmp_path)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auths_entries_in_every_form(tmp_path: Path) -> None:
    store = store_with(
        tmp_path,
        {
            "auths": {
                "reg.example.com": {"auth": b64("alice:pa:ss")},
                "https://other.example.com/v2/": {"username": "bob", "password": "pw"},
                "tok.example.com:5000": {"identitytoken": "refresh-me"},
                DOCKER_HUB_CONFIG_KEY: {"auth": b64("hubuser:hubpw")},
            }
        },
    )
    assert store.get("reg.example.com") == Credentials("alice", "pa:ss")
    assert store.get("other.example.com") == Credentials("bob", "pw")
    assert store.get("tok.example.com:5000") == Credentials(identity_token="refresh-me")
    assert store.get("docker.io") == Credentials("hubuser", "hubpw")
    assert store.get("registry-1.docker.io") == Credentials("hubuser", "hubpw")
    assert store.get("unknown.example.com") is None
    assert "pa:ss" not in repr(store.get("reg.example.com"))


def test_missing_config_means_anonymous(tmp_path: Path) -> None:
    assert DockerCredentialStore(tmp_path / "nowhere").get("reg.example.com") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"auths": {"r.io": {"auth": "!!!"}}}), "not base64"),
        (json.dumps({"auths": {"r.io": {"auth": b64("nocolon")}}}), "no ':'"),
    ],
)
def test_broken_config_is_input_error_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(InputError, match=message) as info:
        DockerCredentialStore(tmp_path).get("r.io")
    assert info.value.where == str(tmp_path / "config.json")
    assert info.value.exit_code == ExitCode.USAGE


def test_config_location_from_env(tmp_path: Path) -> None:
    assert docker_config_path(None, {"DOCKER_CONFIG": str(tmp_path)}) == tmp_path / "config.json"
    assert docker_config_path(None, {"HOME": "/home/x"}) == Path("/home/x/.docker/config.json")
    assert docker_config_path(tmp_path / "c.json", {}) == tmp_path / "c.json"


@pytest.fixture
def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "helper.log"
    script = bin_dir / "docker-credential-fakestore"
    script.write_text(
        "#!/bin/sh\n"
        f'read server; echo "$1 $server" >> {log}\n'
        'case "$server" in\n'
        '  helped.example.com) echo \'{"ServerURL":"x","Username":"carol","Secret":"hs"}\' ;;\n'
        '  token.example.com) echo \'{"Username":"<token>","Secret":"idt"}\' ;;\n'
        "  broken.example.com) echo 'boom secret-ish' >&2; exit 2 ;;\n"
        "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_credential_helpers(tmp_path: Path, fake_helper: Path) -> None:
    store = store_with(
        tmp_path,
        {
            "credsStore": "fakestore",
            "credHelpers": {"token.example.com": "fakestore"},
            "auths": {"plain.example.com": {"auth": b64("u:p")}},
        },
    )
    assert store.get("helped.example.com") == Credentials("carol", "hs")
    assert store.get("token.example.com") == Credentials(identity_token="idt")
    assert store.get("plain.example.com") == Credentials("u", "p")  # auths before credsStore
    assert store.get("nothing.example.com") is None
    store.get("helped.example.com")  # cached: the helper ran once per host
    assert fake_helper.read_text().splitlines() == [
        "get helped.example.com",
        "get token.example.com",
        "get nothing.example.com",
    ]
    with pytest.raises(ExternalError, match="failed \\(exit 2\\)") as info:
        store.get("broken.example.com")
    assert "secret-ish" not in info.value.diagnostics()


def test_docker_hub_is_named_as_docker_does_to_helpers(tmp_path: Path, fake_helper: Path) -> None:
    store_with(tmp_path, {"credsStore": "fakestore"}).get("docker.io")
    assert fake_helper.read_text().strip() == f"get {DOCKER_HUB_CONFIG_KEY}"


def test_missing_helper_is_external_error(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"credsStore": "not-installed-anywhere"})
    with pytest.raises(ExternalError, match="not installed") as info:
        store.get("r.io")
    assert "docker-credential-not-installed-anywhere" in info.value.diagnostics()


def test_challenge_parsing() -> None:
    challenge = Challenge.parse(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.params["service"] == "registry.example.com"
    assert challenge.params["scope"] == "repository:a/b:pull,push repository:c:pull"
    basic = Challenge.parse('Basic realm="Registry Realm"')
    assert basic is not None
    assert basic.scheme == "basic"
    assert Challenge.parse("") is None
