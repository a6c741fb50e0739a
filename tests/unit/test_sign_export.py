"""policy export: the trust section as containers/image, Kyverno and policy-controller files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from mltoolkit.errors import InputError
from mltoolkit.policy.model import (
    Environment,
    EvidenceType,
    IdentitySigner,
    KeySigner,
    Policy,
    Trust,
)
from mltoolkit.signing.export import export_policy
from mltoolkit.signing.keys import generate_key_pair

ISSUER = "https://token.actions.githubusercontent.com"


def make_policy(tmp_path: Path, *, evidence: bool = True) -> Policy:
    generate_key_pair(tmp_path / "ci", b"")
    generate_key_pair(tmp_path / "other", b"")
    trust = Trust(
        keys={
            "ci": KeySigner("ci", path=tmp_path / "ci.pub"),
            "approver": KeySigner("approver", path=tmp_path / "other.pub"),
            "kms": KeySigner("kms", uri="awskms:///alias/x"),
        },
        identities={
            "gh": IdentitySigner("gh", issuer=ISSUER, subject_regexp=r"https://github\.com/acme/.*")
        },
        evidence={EvidenceType.SIGNATURE: ("ci", "gh", "kms"), EvidenceType.APPROVAL: ("approver",)}
        if evidence
        else None,
    )
    return Policy(
        path=tmp_path / "mltoolkit.yaml",
        trust=trust,
        environments={
            "staging": Environment("staging", "reg.example/team/staging"),
            "prod": Environment("prod", "reg.example/team/prod"),
        },
    )


def test_containers_policy(tmp_path: Path) -> None:
    result = export_policy(make_policy(tmp_path), "containers-policy")
    doc = json.loads(result.text)
    assert doc["default"] == [{"type": "reject"}]
    docker = doc["transports"]["docker"]
    assert sorted(docker) == ["reg.example/team/prod", "reg.example/team/staging"]
    [requirement] = docker["reg.example/team/prod"]
    assert requirement["type"] == "sigstoreSigned"
    assert requirement["signedIdentity"] == {"type": "matchRepository"}
    # only the signer trusted for signatures; the approver's key is not an admission key
    assert base64.b64decode(requirement["keyData"]).decode() == (tmp_path / "ci.pub").read_text()
    assert any("kms" in w for w in result.warnings)
    assert any("gh" in w for w in result.warnings)


def test_containers_policy_several_keys_use_key_datas(tmp_path: Path) -> None:
    result = export_policy(make_policy(tmp_path, evidence=False), "containers-policy")
    [requirement] = json.loads(result.text)["transports"]["docker"]["reg.example/team/prod"]
    assert len(requirement["keyDatas"]) == 2


def test_kyverno(tmp_path: Path) -> None:
    doc = yaml.safe_load(export_policy(make_policy(tmp_path), "kyverno").text)
    assert doc["kind"] == "ClusterPolicy"
    [verify] = doc["spec"]["rules"][0]["verifyImages"]
    assert "reg.example/team/prod@*" in verify["imageReferences"]
    entries = verify["attestors"][0]["entries"]
    assert entries[0]["keys"]["publicKeys"].strip() == (tmp_path / "ci.pub").read_text().strip()
    assert entries[1]["keyless"] == {
        "rekor": {"url": "https://rekor.sigstore.dev"},
        "subjectRegExp": r"^(?:https://github\.com/acme/.*)$",
        "issuer": ISSUER,
    }


def test_policy_controller(tmp_path: Path) -> None:
    doc = yaml.safe_load(export_policy(make_policy(tmp_path), "policy-controller").text)
    assert doc["kind"] == "ClusterImagePolicy"
    names = [a["name"] for a in doc["spec"]["authorities"]]
    assert names == ["key-ci", "identity-gh"]
    assert doc["spec"]["authorities"][1]["keyless"]["identities"] == [
        {"issuer": ISSUER, "subjectRegExp": r"^(?:https://github\.com/acme/.*)$"}
    ]


def test_no_repositories_is_input_error(tmp_path: Path) -> None:
    policy = make_policy(tmp_path)
    bare = Policy(path=policy.path, trust=policy.trust)
    with pytest.raises(InputError, match="no environment repositories"):
        export_policy(bare, "kyverno")
