"""Keyless identities pinned by Fulcio certificate extensions (source repository, ref, runner...).

With a reusable workflow every calling repository gets a certificate with the same issuer and
subject; only the extensions tell them apart. Fulcio cannot be reached here, so the certificates
come from a FAKE Fulcio CA (``fake_fulcio_cert``), the extensions written with cryptography's
own DER encoder, at the OIDs of sigstore/fulcio docs/oid-info.md spelled out below. The policy
object is the one sigstore-python calls once chain, SCT and log entry hold.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from test_verify_keyless import GITHUB, fake_fulcio_cert

from mltoolkit.evidence.collect import trust_from_policy
from mltoolkit.policy import load_policy
from mltoolkit.policy.model import IdentitySigner
from mltoolkit.signing.certificate_claims import ClaimRule, certificate_claims, decode_der_utf8
from mltoolkit.signing.export import export_policy
from mltoolkit.signing.keyless import Identity, IdentityPolicy

REUSABLE = (
    "https://github.com/org/mltoolkit/.github/workflows/ml-delivery.yml"
    "@0123456789abcdef0123456789abcdef01234567"
)
OURS = "https://github.com/bank/fraud-models"
THEIRS = "https://github.com/other/x"

# Fulcio's OIDs, written out here so a wrong table in the code cannot agree with itself.
BUILD_SIGNER_URI = "1.3.6.1.4.1.57264.1.9"
RUNNER_ENVIRONMENT = "1.3.6.1.4.1.57264.1.11"
SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"
SOURCE_REPOSITORY_REF = "1.3.6.1.4.1.57264.1.14"
SOURCE_REPOSITORY_IDENTIFIER = "1.3.6.1.4.1.57264.1.15"
SOURCE_REPOSITORY_OWNER_URI = "1.3.6.1.4.1.57264.1.16"
BUILD_TRIGGER = "1.3.6.1.4.1.57264.1.20"
RUN_INVOCATION_URI = "1.3.6.1.4.1.57264.1.21"
DEPLOYMENT_ENVIRONMENT = "1.3.6.1.4.1.57264.1.23"
LEGACY_WORKFLOW_REPOSITORY = "1.3.6.1.4.1.57264.1.5"
LEGACY_WORKFLOW_REF = "1.3.6.1.4.1.57264.1.6"


def der(text: str) -> bytes:
    return bytes(asn1.encode_der(text))


def github_cert(
    repository: str = OURS,
    ref: str = "refs/heads/main",
    *,
    runner: str = "github-hosted",
    trigger: str = "push",
    legacy: bool = True,
    modern: bool = True,
) -> x509.Certificate:
    """What Fulcio issues to a job of ``repository`` calling the reusable workflow."""
    extensions: dict[str, bytes] = {}
    if modern:
        extensions |= {
            BUILD_SIGNER_URI: der(REUSABLE),
            RUNNER_ENVIRONMENT: der(runner),
            SOURCE_REPOSITORY_URI: der(repository),
            SOURCE_REPOSITORY_REF: der(ref),
            SOURCE_REPOSITORY_IDENTIFIER: der("123456"),
            SOURCE_REPOSITORY_OWNER_URI: der(repository.rsplit("/", 1)[0]),
            BUILD_TRIGGER: der(trigger),
            RUN_INVOCATION_URI: der(f"{repository}/actions/runs/1/attempts/1"),
        }
    if legacy:
        extensions |= {
            LEGACY_WORKFLOW_REPOSITORY: repository.removeprefix("https://github.com/").encode(),
            LEGACY_WORKFLOW_REF: ref.encode(),
        }
    return fake_fulcio_cert(REUSABLE, GITHUB, extensions)


def policy_identities(tmp_path: Path, claims: str) -> IdentityPolicy:
    """The verification policy built from a policy file, as the gates build it."""
    pytest.importorskip("sigstore")
    path = tmp_path / "mltoolkit.yaml"
    body = textwrap.indent(textwrap.dedent(claims), " " * 8)
    path.write_text(
        "version: 1\ntrust:\n  identities:\n    ci:\n"
        f"      issuer: {GITHUB}\n      subject: {REUSABLE}\n      claims:\n{body}",
        encoding="utf-8",
    )
    trust, _ = trust_from_policy(load_policy(path).trust)
    return IdentityPolicy(list(trust.identities))


def refusal(policy: IdentityPolicy, cert: x509.Certificate) -> str:
    from sigstore.errors import VerificationError

    with pytest.raises(VerificationError) as info:
        policy.verify(cert)
    return str(info.value)


PINNED = f"""\
source-repository-uri: {OURS}
source-repository-ref: refs/heads/main
runner-environment: github-hosted
build-trigger: push
"""


def test_certificate_claims_reads_fulcio_extensions_by_name() -> None:
    claims = certificate_claims(github_cert())
    assert claims["source-repository-uri"] == OURS
    assert claims["source-repository-ref"] == "refs/heads/main"
    assert claims["source-repository-identifier"] == "123456"
    assert claims["source-repository-owner-uri"] == "https://github.com/bank"
    assert claims["build-signer-uri"] == REUSABLE
    assert claims["runner-environment"] == "github-hosted"
    assert claims["build-trigger"] == "push"
    assert claims["run-invocation-uri"] == f"{OURS}/actions/runs/1/attempts/1"
    assert claims["github-workflow-repository"] == "bank/fraud-models"
    assert claims["github-workflow-ref"] == "refs/heads/main"
    assert "deployment-environment" not in claims


def test_der_utf8_decoding_agrees_with_cryptography_and_refuses_other_encodings() -> None:
    for text in ("", "push", "é" * 70, "x" * 300, "y" * 70000):
        assert decode_der_utf8(der(text)) == text
    assert decode_der_utf8(b"push") is None  # raw, not DER
    assert decode_der_utf8(b"\x13\x04push") is None  # PrintableString, not UTF8String
    assert decode_der_utf8(der("push") + b"x") is None  # trailing bytes
    assert decode_der_utf8(der("push")[:-1]) is None  # truncated
    assert decode_der_utf8(b"\x0c\x02\xff\xfe") is None  # not UTF-8
    # a DER-encoded value where the legacy raw form is expected is not the same text
    cert = fake_fulcio_cert(REUSABLE, GITHUB, {LEGACY_WORKFLOW_REPOSITORY: der("bank/x")})
    assert certificate_claims(cert)["github-workflow-repository"] != "bank/x"


def test_matching_claims_are_accepted(tmp_path: Path) -> None:
    policy = policy_identities(tmp_path, PINNED)
    policy.verify(github_cert())
    assert policy.matched is not None and str(policy.matched) == "ci"


def test_another_repository_calling_the_same_workflow_is_refused(tmp_path: Path) -> None:
    policy = policy_identities(tmp_path, PINNED)
    why = refusal(policy, github_cert(THEIRS))
    assert why == f"source-repository-uri is {THEIRS}, policy wants {OURS}"
    # without claims the same certificate is accepted: the gap the claims close
    unpinned = IdentityPolicy([Identity(REUSABLE, None, GITHUB, None, name="ci")])
    unpinned.verify(github_cert(THEIRS))


def test_every_failing_claim_is_named(tmp_path: Path) -> None:
    policy = policy_identities(tmp_path, PINNED)
    why = refusal(
        policy,
        github_cert(ref="refs/heads/feature", runner="self-hosted", trigger="pull_request"),
    )
    assert why == (
        "source-repository-ref is refs/heads/feature, policy wants refs/heads/main; "
        "runner-environment is self-hosted, policy wants github-hosted; "
        "build-trigger is pull_request, policy wants push"
    )


def test_a_missing_extension_is_refused(tmp_path: Path) -> None:
    policy = policy_identities(tmp_path, PINNED)
    why = refusal(policy, github_cert(modern=False))
    assert why.startswith(
        "the certificate has no source-repository-uri (1.3.6.1.4.1.57264.1.12), "
        f"policy wants {OURS}"
    )
    policy = policy_identities(tmp_path, "deployment-environment: production\n")
    assert refusal(policy, github_cert()) == (
        "the certificate has no deployment-environment (1.3.6.1.4.1.57264.1.23), "
        "policy wants production"
    )


def test_regexp_claims_match_the_whole_value(tmp_path: Path) -> None:
    policy = policy_identities(
        tmp_path,
        "source-repository-uri: https://github.com/bank/fraud-models\n"
        "source-repository-ref-regexp: refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+\n",
    )
    policy.verify(github_cert(ref="refs/tags/v1.2.3"))
    why = refusal(policy, github_cert(ref="refs/tags/v1.2.3-evil"))
    assert why == (
        "source-repository-ref is refs/tags/v1.2.3-evil, policy wants a match of "
        "/refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+/"
    )
    owner = policy_identities(
        tmp_path, "source-repository-owner-uri-regexp: https://github.com/bank\n"
    )
    owner.verify(github_cert(OURS))
    assert "source-repository-owner-uri is https://github.com/other" in refusal(
        owner, github_cert(THEIRS)
    )


def test_legacy_github_extensions_are_their_own_claims(tmp_path: Path) -> None:
    # The deprecated 1.5/1.6 extensions can be pinned by their own names...
    legacy = policy_identities(tmp_path, "github-workflow-repository: bank/fraud-models\n")
    legacy.verify(github_cert(modern=False))
    assert refusal(legacy, github_cert(THEIRS, modern=False)) == (
        "github-workflow-repository is other/x, policy wants bank/fraud-models"
    )
    # ...but never stand in for the modern ones: a certificate with only legacy extensions
    # does not satisfy source-repository-uri.
    modern = policy_identities(tmp_path, f"source-repository-uri: {OURS}\n")
    assert "has no source-repository-uri" in refusal(modern, github_cert(modern=False))


def test_several_identities_each_name_their_reason() -> None:
    pytest.importorskip("sigstore")
    ours = Identity(
        REUSABLE, None, GITHUB, None, name="ci", claims=(ClaimRule("build-trigger", "push"),)
    )
    gitlab = Identity(
        None, r"https://gitlab\.com/bank/.*", "https://gitlab.com", None, name="gitlab-ci"
    )
    why = refusal(IdentityPolicy([ours, gitlab]), github_cert(trigger="workflow_dispatch"))
    assert why == (
        "ci: build-trigger is workflow_dispatch, policy wants push; "
        f"gitlab-ci: issuer {GITHUB} is not https://gitlab.com"
    )


def test_identity_signer_matches_checks_claims() -> None:
    signer = IdentitySigner(
        "ci",
        issuer=GITHUB,
        subject=REUSABLE,
        claims=(ClaimRule("source-repository-uri", OURS),),
    )
    assert signer.matches(GITHUB, REUSABLE, {"source-repository-uri": OURS})
    assert not signer.matches(GITHUB, REUSABLE, {"source-repository-uri": THEIRS})
    assert not signer.matches(GITHUB, REUSABLE)  # no claims known: no match
    assert IdentitySigner("any", issuer=GITHUB, subject=REUSABLE).matches(GITHUB, REUSABLE)


def test_identity_refuses_a_bad_claim_regexp() -> None:
    from mltoolkit.errors import InputError

    with pytest.raises(InputError, match="invalid regular expression"):
        Identity(REUSABLE, None, GITHUB, None, claims=(ClaimRule("build-trigger", regexp="("),))


def test_admission_exports_warn_that_claims_are_not_enforced(tmp_path: Path) -> None:
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
                  claims: {{source-repository-uri: {OURS}}}
            environments:
              prod: {{repository: registry.example.com/m}}
            """
        ),
        encoding="utf-8",
    )
    policy = load_policy(path)
    for fmt in ("kyverno", "policy-controller"):
        [warning] = export_policy(policy, fmt).warnings
        assert f"identity ci pins certificate claims (source-repository-uri={OURS})" in warning
        assert fmt in warning
