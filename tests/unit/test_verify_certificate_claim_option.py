"""``--certificate-claim`` on verify and verify-attestation: the policy's ``claims:`` by hand.

The option is parsed into the same ``ClaimRule``s the policy loader builds and checked by the same
matcher. Certificates come from the FAKE Fulcio CA of ``test_verify_keyless`` (Fulcio cannot be
reached here), carrying Fulcio's extensions as ``test_verify_keyless_claims`` writes them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_verify_keyless import GITHUB
from test_verify_keyless_claims import OURS, REUSABLE, THEIRS, github_cert, refusal

from mltoolkit.cli.main import main
from mltoolkit.errors import InputError
from mltoolkit.policy import load_policy
from mltoolkit.signing.certificate_claims import CLAIM_NAMES, ClaimRule
from mltoolkit.signing.cli_support import build_trust, parse_claims
from mltoolkit.signing.keyless import IdentityPolicy

IMAGE = "127.0.0.1:1/none/app@sha256:" + "0" * 64
IDENTITY = ["--certificate-identity", REUSABLE, "--certificate-oidc-issuer", GITHUB]
CLAIMS = (
    f"source-repository-uri={OURS}",
    "source-repository-ref-regexp=refs/tags/v[0-9]+(\\.[0-9]+)*",
    "runner-environment=github-hosted",
)


def cli_trust(*claims: str) -> IdentityPolicy:
    pytest.importorskip("sigstore")
    trust = build_trust(
        (),
        identity=REUSABLE,
        identity_regexp=None,
        issuer=GITHUB,
        issuer_regexp=None,
        claims=claims,
    )
    return IdentityPolicy(list(trust.identities))


def test_claims_parse_to_the_rules_the_policy_loader_builds(tmp_path: Path) -> None:
    path = tmp_path / "mltoolkit.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            trust:
              identities:
                ci:
                  issuer: {GITHUB}
                  subject: {REUSABLE}
                  claims:
                    source-repository-uri: {OURS}
                    source-repository-ref-regexp: refs/tags/v[0-9]+(\\.[0-9]+)*
                    runner-environment: github-hosted
            """
        ),
        encoding="utf-8",
    )
    from_policy = load_policy(path).trust.identities["ci"].claims
    assert parse_claims(CLAIMS) == from_policy
    assert parse_claims(CLAIMS)[1] == ClaimRule(
        "source-repository-ref", regexp="refs/tags/v[0-9]+(\\.[0-9]+)*"
    )
    # a value may itself hold '=' (only the first one separates)
    assert parse_claims(["build-config-uri=https://x/y?a=b"]) == (
        ClaimRule("build-config-uri", value="https://x/y?a=b"),
    )


def test_cli_claims_accept_the_pinned_repository_and_refuse_another() -> None:
    policy = cli_trust(*CLAIMS)
    policy.verify(github_cert(ref="refs/tags/v1.2"))
    assert refusal(policy, github_cert(THEIRS, ref="refs/tags/v1.2")) == (
        f"source-repository-uri is {THEIRS}, policy wants {OURS}"
    )
    assert refusal(policy, github_cert(ref="refs/tags/v1.2-evil")) == (
        "source-repository-ref is refs/tags/v1.2-evil, policy wants a match of "
        "/refs/tags/v[0-9]+(\\.[0-9]+)*/"
    )
    assert refusal(policy, github_cert(ref="refs/tags/v1", modern=False)).startswith(
        "the certificate has no source-repository-uri (1.3.6.1.4.1.57264.1.12)"
    )
    # without the option the same certificate of another repository is accepted
    cli_trust().verify(github_cert(THEIRS))


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
def test_unknown_claim_is_exit_2_naming_the_valid_ones(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, IMAGE, *IDENTITY, "--certificate-claim", "source-repo-uri=" + OURS])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "unknown certificate claim 'source-repo-uri'" in err
    assert "--certificate-claim" in err
    assert "did you mean 'source-repository-uri'?" in err
    assert all(name in err for name in CLAIM_NAMES)
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (["source-repository-uri"], "is not NAME=VALUE"),
        (["=x"], "is not NAME=VALUE"),
        (["build-trigger="], "is not NAME=VALUE"),
        (["build-trigger=push", "build-trigger-regexp=p.*"], "'build-trigger' is given twice"),
        (["build-trigger=push", "build-trigger=pull_request"], "'build-trigger' is given twice"),
        (["build-trigger-regexp=("], "invalid regular expression for 'build-trigger-regexp'"),
        (["build-trigger-regexp-regexp=x"], "unknown certificate claim"),
    ],
)
def test_malformed_claims_are_input_errors(claims: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_claims(claims)
    assert info.value.where == "--certificate-claim"


def test_claims_without_a_keyless_identity_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", IMAGE, "--key", "unused.pub", "--certificate-claim", "build-trigger=push"])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "--certificate-claim pins a keyless identity, and none was given" in err
    # half an identity is still refused by the identity itself
    with pytest.raises(InputError, match="oidc-issuer"):
        build_trust(
            (),
            identity=REUSABLE,
            identity_regexp=None,
            issuer=None,
            issuer_regexp=None,
            claims=["build-trigger=push"],
        )


def test_valid_claims_pass_validation_and_reach_the_registry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 127.0.0.1:1 refuses connections: exit 3 (the outside failed) proves the options were
    # accepted and the command went on to read the image.
    claims = [arg for claim in CLAIMS for arg in ("--certificate-claim", claim)]
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", IMAGE, *IDENTITY, *claims])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 3, err
