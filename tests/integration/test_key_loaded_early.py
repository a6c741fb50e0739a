"""Keys decrypted on a thread while other work runs (sign, attest, sbom, validate-data):
a key that cannot be decrypted still fails the command with exit 2 and one line, at the point
where the key is used, and a good key still signs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.images import push_image

from mltoolkit.cli.main import main
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing.keys import generate_key_pair

pytestmark = pytest.mark.integration

SUITES = Path(__file__).parents[1] / "data" / "suites"


@pytest.fixture
def pinned(registry: str) -> Iterator[str]:
    with RegistryClient() as client:
        image = push_image(client, f"{registry}/early-key/{uuid.uuid4().hex[:10]}")
    yield f"{image.name}@{image.digest}"


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "local")
    generate_key_pair(tmp_path / "early", b"right")
    return tmp_path / "early.key"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_sign_and_attest_with_a_wrong_password_are_exit_2(
    pinned: str, key: Path, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    predicate = tmp_path / "p.json"
    predicate.write_text('{"buildType": "x"}')
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "wrong")
    for args in (
        ["sign", pinned, "--key", str(key)],
        ["attest", pinned, "--type", "custom", "--predicate", str(predicate), "--key", str(key)],
    ):
        code, _out, err = run(args, capsys)
        assert code == 2, err
        assert "password" in one_line_error(err).lower()
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "right")
    code, _out, err = run(["sign", pinned, "--key", str(key)], capsys)
    assert code == 0, err
    code, _out, err = run(["verify", pinned, "--key", str(key.with_suffix(".pub"))], capsys)
    assert code == 0, err


def test_a_registry_failure_still_comes_before_the_key(
    registry: str, key: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    # As before the key loaded early: the image is checked first, the key's error is dropped.
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "wrong")
    missing = f"{registry}/early-key/none@sha256:{'0' * 64}"
    code, _out, err = run(["sign", missing, "--key", str(key)], capsys)
    assert code == 2, err
    line = one_line_error(err)
    assert "no manifest" in line and "password" not in line.lower()


def test_validate_data_attest_with_a_wrong_password_is_exit_2(
    pinned: str, key: Path, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "tx.csv"
    rows = [f"{i},{10.0 * i},EUR,m{i % 7},0" for i in range(1, 51)]
    data.write_text("id,amount,currency,merchant,is_fraud\n" + "\n".join(rows) + "\n")
    args = ["validate-data", "--suite", str(SUITES / "transactions.yaml"), "--data", str(data)]
    args += ["--attest", pinned, "--key", str(key)]
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "wrong")
    code, out, err = run(args, capsys)
    assert code == 2, err
    assert "password" in one_line_error(err).lower()
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "right")
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "attest" in out.lower() or "attest" in err.lower()


def test_sbom_attest_with_a_wrong_password_is_exit_2(
    pinned: str, key: Path, services, trivy_bin, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, **services, "MLTOOLKIT_TRIVY": str(trivy_bin)}
    args = [sys.executable, "-m", "mltoolkit", "sbom", pinned, "--output", str(tmp_path / "s")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--attest", "--key", str(key)]
    for password, expected in (("wrong", 2), ("right", 0)):
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env={**env, "MLTOOLKIT_KEY_PASSWORD": password},
            timeout=300,
            check=False,
        )
        assert proc.returncode == expected, proc.stderr
        if expected == 2:
            assert "password" in one_line_error(proc.stderr).lower()
