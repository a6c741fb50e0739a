"""Model-signing signatures over a model directory: sign, verify, tamper (offline, real library)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mltoolkit.errors import DeniedError, InputError
from mltoolkit.models.signature import bundle_digest, model_digest, sign_model, verify_model
from mltoolkit.signing.keys import public_pem


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "data").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "data" / "weights.bin").write_bytes(os.urandom(4096))
    return root


@pytest.fixture
def key(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "model.pub"
    pub.write_bytes(public_pem(private.public_key()))
    return private, pub


def test_digest_is_the_signed_subject(
    model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    bundle = sign_model(model, key[0])
    digest = model_digest(model)
    assert digest.startswith("sha256:")
    assert bundle_digest(bundle) == digest
    assert verify_model(model, bundle, key[1]) == digest


def test_digest_is_sha256_over_file_digests_in_name_order(model: Path) -> None:
    files = sorted(p for p in model.rglob("*") if p.is_file())
    names = sorted((p.relative_to(model).as_posix(), p) for p in files)
    outer = hashlib.sha256()
    for _, path in names:
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    assert model_digest(model) == f"sha256:{outer.hexdigest()}"


def test_one_changed_byte_fails(model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    bundle = sign_model(model, key[0])
    weights = model / "data" / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(DeniedError, match=r"'data/weights\.bin' changed"):
        verify_model(model, bundle, key[1])


@pytest.mark.parametrize("extra", ["notes.txt", ".gitattributes"])
def test_an_extra_file_fails(
    model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path], extra: str
) -> None:
    bundle = sign_model(model, key[0])
    (model / extra).write_text("added after signing\n")
    with pytest.raises(DeniedError, match="extra files: "):
        verify_model(model, bundle, key[1])


def test_a_removed_file_fails(model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    bundle = sign_model(model, key[0])
    (model / "MLmodel").unlink()
    with pytest.raises(DeniedError, match="missing files: MLmodel"):
        verify_model(model, bundle, key[1])


def test_another_key_fails(
    model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path], tmp_path: Path
) -> None:
    bundle = sign_model(model, key[0])
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    with pytest.raises(DeniedError):
        verify_model(model, bundle, other)


def test_the_private_key_is_not_left_on_disk(
    model: Path,
    key: tuple[ec.EllipticCurvePrivateKey, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    sign_model(model, key[0])
    assert list(scratch.iterdir()) == []


def test_non_ec_keys_and_missing_dirs_are_input_errors(model: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="elliptic-curve"):
        sign_model(model, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(InputError, match="not a directory"):
        model_digest(tmp_path / "missing")


def test_verify_takes_one_kind_of_signer(
    model: Path, key: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    bundle = sign_model(model, key[0])
    with pytest.raises(InputError, match="exactly one"):
        verify_model(model, bundle)
    with pytest.raises(InputError, match="exactly one"):
        verify_model(model, bundle, key[1], identity=("a@b", "https://issuer"))


def test_model_digest_command_prints_the_label_value(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mltoolkit.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["model-digest", str(model)])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == model_digest(model)
