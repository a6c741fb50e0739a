"""``validate-data --attest``: a signed data-validation attestation that ``verify-attestation``
accepts, bound to the data's fingerprint (which changes when one row changes)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.images import push_image

from mltoolkit.cli.main import main
from mltoolkit.data.results import PREDICATE_TYPE
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing.keys import generate_key_pair

pytestmark = pytest.mark.integration

SUITES = Path(__file__).parents[1] / "data" / "suites"


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def write_csv(path: Path, amounts: list[float]) -> None:
    lines = ["id,amount,currency,merchant,is_fraud"]
    lines += [f"{i},{a},EUR,m{i % 7},0" for i, a in enumerate(amounts, start=1)]
    path.write_text("\n".join(lines) + "\n")


def test_attestation_verifies_and_binds_the_data(
    client: RegistryClient,
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "local")
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "pw")
    generate_key_pair(tmp_path / "data", b"pw")
    image = push_image(client, f"{registry}/data/{uuid.uuid4().hex[:10]}")
    pinned = f"{image.name}@{image.digest}"
    data = tmp_path / "tx.csv"
    write_csv(data, [10.0 * i for i in range(1, 51)])
    suite = str(SUITES / "transactions.yaml")

    code, out, err = run(
        [
            "--json",
            "validate-data",
            "--suite",
            suite,
            "--data",
            str(data),
            "--attest",
            pinned,
            "--key",
            str(tmp_path / "data.key"),
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["attestation"]["predicate_type"] == PREDICATE_TYPE

    code, out, err = run(
        [
            "verify-attestation",
            pinned,
            "--key",
            str(tmp_path / "data.pub"),
            "--type",
            PREDICATE_TYPE,
        ],
        capsys,
    )
    assert code == 0, err
    statements = json.loads(out)
    predicate = statements[0]["predicate"]
    assert statements[0]["predicateType"] == PREDICATE_TYPE
    assert statements[0]["subject"][0]["digest"]["sha256"] == image.digest.hex
    assert predicate["verdict"] == "pass"
    assert predicate["suite"]["sha256"] == hashlib.sha256(Path(suite).read_bytes()).hexdigest()
    assert predicate["fingerprint"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert predicate["statistics"]["evaluated"] == 8
    assert predicate["run"]["platform"] == "local"
    first = predicate["fingerprint"]["sha256"]

    # One row changes: a new attestation, with another fingerprint, verifies beside the first.
    write_csv(data, [10.0 * i for i in range(1, 50)] + [123.0])
    code, _, err = run(
        [
            "validate-data",
            "--suite",
            suite,
            "--data",
            str(data),
            "--attest",
            pinned,
            "--key",
            str(tmp_path / "data.key"),
        ],
        capsys,
    )
    assert code == 0, err
    code, out, err = run(
        [
            "verify-attestation",
            pinned,
            "--key",
            str(tmp_path / "data.pub"),
            "--type",
            PREDICATE_TYPE,
        ],
        capsys,
    )
    assert code == 0, err
    fingerprints = {s["predicate"]["fingerprint"]["sha256"] for s in json.loads(out)}
    assert first in fingerprints
    assert len(fingerprints) == 2

    # The same data on DuckDB (the first two ran on pandas: the suite has a regex) is attested
    # with the same fingerprint, and names its engine.
    duck_suite = tmp_path / "duck.yaml"
    duck_suite.write_text(
        "name: duck\nexpectations:\n"
        "  - {type: expect_column_values_to_not_be_null, kwargs: {column: id}}\n"
        "  - {type: expect_column_values_to_be_between, kwargs: {column: amount, min_value: 0}}\n"
    )
    attest = ["--attest", pinned, "--key", str(tmp_path / "data.key")]
    code, _, err = run(
        ["validate-data", "--suite", str(duck_suite), "--data", str(data), *attest],
        capsys,
    )
    assert code == 0, err
    verify = ["verify-attestation", pinned, "--key", str(tmp_path / "data.pub")]
    code, out, err = run([*verify, "--type", PREDICATE_TYPE], capsys)
    assert code == 0, err
    by_engine = {
        s["predicate"]["data"]["engine"]: s["predicate"]["fingerprint"] for s in json.loads(out)
    }
    assert by_engine.keys() == {"pandas", "duckdb"}
    assert by_engine["duckdb"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert by_engine["duckdb"]["row_count"] == 50
    assert by_engine["duckdb"]["sha256"] in fingerprints

    # A key that did not sign it verifies nothing.
    generate_key_pair(tmp_path / "other", b"pw")
    code, _, err = run(
        [
            "verify-attestation",
            pinned,
            "--key",
            str(tmp_path / "other.pub"),
            "--type",
            PREDICATE_TYPE,
        ],
        capsys,
    )
    assert code == 1


def test_attest_refuses_a_tag_before_reading_data(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "tx.csv"
    write_csv(data, [1.0])
    code, _, err = run(
        [
            "validate-data",
            "--suite",
            str(SUITES / "transactions.yaml"),
            "--data",
            str(data),
            "--attest",
            f"{registry}/data/x:latest",
            "--key",
            "k.key",
        ],
        capsys,
    )
    assert code == 2
    assert "--attest needs IMAGE@DIGEST" in err
