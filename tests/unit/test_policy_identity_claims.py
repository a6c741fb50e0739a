"""`claims:` of a keyless identity in the policy: loaded strictly, shown, and in the schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from mltoolkit.cli.main import main
from mltoolkit.errors import InputError
from mltoolkit.policy import load_policy
from mltoolkit.policy.schema import schema
from mltoolkit.signing.certificate_claims import CLAIM_NAMES, ClaimRule

GITHUB = "https://token.actions.githubusercontent.com"
REUSABLE = "https://github.com/org/mltoolkit/.github/workflows/ml-delivery.yml@" + "0" * 40


def policy_text(claims: str) -> str:
    body = textwrap.indent(textwrap.dedent(claims), " " * 8)
    return (
        "version: 1\n"
        "trust:\n"
        "  identities:\n"
        "    ci:\n"
        f"      issuer: {GITHUB}\n"
        f"      subject: {REUSABLE}\n"
        f"      claims:\n{body}"
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mltoolkit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, claims: str) -> str:
    with pytest.raises(InputError) as info:
        load_policy(write(tmp_path, policy_text(claims)))
    return info.value.diagnostics()


def schema_accepts(text: str) -> bool:
    return jsonschema.Draft202012Validator(schema()).is_valid(yaml.safe_load(text))


GOOD = """\
source-repository-uri: https://github.com/bank/fraud-models
source-repository-ref-regexp: refs/(heads/main|tags/v.*)
runner-environment: github-hosted
build-trigger: push
"""


def test_claims_are_loaded_as_rules_and_shown(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, policy_text(GOOD)))
    identity = policy.trust.identities["ci"]
    assert identity.claims == (
        ClaimRule("source-repository-uri", value="https://github.com/bank/fraud-models"),
        ClaimRule("source-repository-ref", regexp="refs/(heads/main|tags/v.*)"),
        ClaimRule("runner-environment", value="github-hosted"),
        ClaimRule("build-trigger", value="push"),
    )
    shown = policy.to_dict()["trust"]["identities"]["ci"]
    assert shown["claims"] == yaml.safe_load(GOOD)
    assert schema_accepts(policy_text(GOOD))


def test_an_identity_without_claims_shows_none(tmp_path: Path) -> None:
    text = f"version: 1\ntrust:\n  identities:\n    ci: {{issuer: {GITHUB}, subject: {REUSABLE}}}\n"
    policy = load_policy(write(tmp_path, text))
    assert policy.trust.identities["ci"].claims == ()
    assert "claims" not in policy.to_dict()["trust"]["identities"]["ci"]


def test_an_unknown_claim_names_file_line_and_the_valid_claims(tmp_path: Path) -> None:
    error = load_error(tmp_path, "source-repository: https://github.com/bank/fraud-models\n")
    path = tmp_path / "mltoolkit.yaml"
    assert error.startswith(
        f"{path}:8: trust.identities.ci.claims.source-repository: unknown claim "
        "'source-repository'; did you mean 'source-repository-uri'? valid claims "
        "(each also as NAME-regexp): build-signer-uri, build-signer-digest,"
    )
    for name in CLAIM_NAMES:
        assert name in error
    assert not schema_accepts(policy_text("source-repository: x\n"))


def test_an_unknown_claim_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, policy_text("repository: bank/fraud-models\n"))
    with pytest.raises(SystemExit) as info:
        main(["--policy", str(path), "policy", "validate"])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert f"{path}:8: trust.identities.ci.claims.repository: unknown claim 'repository'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ("build-trigger: push\nbuild-trigger-regexp: pu.*\n", "give one of 'build-trigger' or"),
        ("{}\n", "must name at least one claim"),
        ("source-repository-ref-regexp: '(refs'\n", "invalid regular expression"),
        (
            "source-repository-identifier: 123456\n",
            "must be a string, not 123456; quote it: '123456'",
        ),
        ("runner-environment: ''\n", "must be a string, not an empty string"),
        ("[source-repository-uri]\n", "must be a mapping, not a list"),
    ],
)
def test_bad_claims_are_refused_with_the_line(tmp_path: Path, claims: str, message: str) -> None:
    error = load_error(tmp_path, claims)
    assert f"{tmp_path / 'mltoolkit.yaml'}:" in error
    assert "trust.identities.ci.claims" in error
    assert message in error


@pytest.mark.parametrize(
    "claims",
    [
        "build-trigger: push\nbuild-trigger-regexp: pu.*\n",
        "{}\n",
        "source-repository-identifier: 123456\n",
        "runner-environment: ''\n",
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(claims: str) -> None:
    assert not schema_accepts(policy_text(claims))


def test_the_schema_lists_exactly_the_loaders_claims() -> None:
    claims = schema()["$defs"]["claims"]
    expected = {key for name in CLAIM_NAMES for key in (name, f"{name}-regexp")}
    assert set(claims["properties"]) == expected
    assert schema()["$defs"]["identity"]["properties"]["claims"]["$ref"] == "#/$defs/claims"


def test_the_card_fraud_examples_keyless_identity_loads_when_uncommented(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "card-fraud" / "mltoolkit.yaml"
    lines = example.read_text(encoding="utf-8").splitlines()
    start = lines.index("  # identities:")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  #"))
    block = [line.replace("# ", "", 1) for line in lines[start:end]]
    (tmp_path / "keys").mkdir()
    text = "\n".join([*lines[:start], *block, *lines[end:]]) + "\n"
    identity = load_policy(write(tmp_path, text)).trust.identities["github-ci"]
    assert ClaimRule("source-repository-uri", "https://github.com/acme/card-fraud") in (
        identity.claims
    )
    assert len(identity.claims) == 4
