"""The policy loader: typed values from good files, one exact `file:line: key: message` per bad."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from mltoolkit.cli.context import Settings
from mltoolkit.errors import ExitCode, InputError
from mltoolkit.policy import (
    EvidenceType,
    IdentitySigner,
    KeySigner,
    Scanner,
    Severity,
    Threshold,
    find_policy,
    load_policy,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "policy" / "mltoolkit.yaml"

FULL = """\
version: 1
registries:
  insecure: [registry.internal:5000, "[::1]:5001"]
trust:
  keys:
    ci:
      path: keys/ci.pub
    kms:
      uri: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k
  identities:
    release:
      issuer-regexp: ^https://token\\.actions\\.githubusercontent\\.com$
      subject: https://github.com/o/r/.github/workflows/release.yml@refs/heads/main
  evidence:
    signature: [ci, release]
    sbom: [ci]
    vulnerability-scan: [ci]
    approval: [kms, release]
gates:
  scan:
    fail-on: CRITICAL
    report-severity: MEDIUM
    ignore-unfixed: true
    ignore-file: .trivyignore
    max-db-age: 72h
    scanners: [vuln, misconfig]
  data:
    min-success-percent: 99.5
    max-age: 30m
environments:
  staging:
    repository: localhost:5000/fraud/staging
    requires: [signature, sbom]
    metrics:
      auc: ">= 0.90"
  production:
    from: staging
    repository: registry.internal:5000/fraud/prod
    requires: [signature, sbom, vulnerability-scan]
    metrics:
      auc: "> 0.92"
      latency_ms: "<=250"
    approvals:
      required: 2
      separation-of-duties: false
      max-age: 7d
"""


def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    monkeypatch.chdir(tmp_path)
    path = Path("mltoolkit.yaml")
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_policy_loads_into_typed_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy(write(tmp_path, monkeypatch, FULL))

    assert policy.version == 1
    assert policy.registries.insecure == ("registry.internal:5000", "[::1]:5001")
    assert policy.trust.keys["ci"] == KeySigner(name="ci", path=tmp_path / "keys" / "ci.pub")
    assert policy.trust.keys["kms"].uri == (
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"
    )
    assert policy.trust.identities["release"] == IdentitySigner(
        name="release",
        issuer_regexp=r"^https://token\.actions\.githubusercontent\.com$",
        subject="https://github.com/o/r/.github/workflows/release.yml@refs/heads/main",
    )
    release = policy.trust.identities["release"]
    workflow = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main"
    assert release.matches("https://token.actions.githubusercontent.com", workflow)
    assert not release.matches("https://token.actions.githubusercontent.com.evil", workflow)
    assert not release.matches("https://token.actions.githubusercontent.com", workflow + "x")
    assert policy.trust.evidence is not None
    assert policy.trust.evidence[EvidenceType.SBOM] == ("ci",)
    assert [s.name for s in policy.trust.signers_for(EvidenceType.SIGNATURE)] == ["ci", "release"]
    assert policy.trust.signers_for(EvidenceType.PROVENANCE) == ()

    scan = policy.gates.scan
    assert scan.fail_on is Severity.CRITICAL
    assert scan.report_severity is Severity.MEDIUM
    assert scan.report_severity.at_or_above() == (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
    assert scan.ignore_unfixed is True
    assert scan.ignore_file == tmp_path / ".trivyignore"
    assert scan.max_db_age == timedelta(hours=72)
    assert scan.scanners == (Scanner.VULN, Scanner.MISCONFIG)
    assert scan.fails_on(Severity.CRITICAL)
    assert not scan.fails_on(Severity.HIGH)
    assert policy.gates.data.min_success_percent == 99.5
    assert policy.gates.data.max_age == timedelta(minutes=30)

    assert list(policy.environments) == ["staging", "production"]
    staging, prod = policy.environments["staging"], policy.environments["production"]
    assert staging.from_env is None
    assert staging.approvals is None
    assert staging.metrics["auc"] == Threshold(">=", 0.90)
    assert prod.from_env == "staging"
    assert prod.repository == "registry.internal:5000/fraud/prod"
    assert prod.requires == (
        EvidenceType.SIGNATURE,
        EvidenceType.SBOM,
        EvidenceType.VULNERABILITY_SCAN,
    )
    assert prod.metrics["auc"] == Threshold(">", 0.92)
    assert prod.metrics["latency_ms"] == Threshold("<=", 250.0)
    assert prod.metrics["auc"].accepts(0.93)
    assert not prod.metrics["auc"].accepts(0.92)
    assert prod.approvals is not None
    assert prod.approvals.required == 2
    assert prod.approvals.separation_of_duties is False
    assert prod.approvals.max_age == timedelta(days=7)
    assert [s.name for s in policy.approvers(prod)] == ["kms", "release"]
    assert policy.promotion_path("production") == ("staging", "production")


def test_minimal_policy_has_secure_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy(write(tmp_path, monkeypatch, "version: 1\n"))
    assert policy.gates.scan.fail_on is Severity.HIGH
    assert policy.gates.scan.ignore_unfixed is False
    assert policy.gates.scan.max_db_age == timedelta(hours=72)
    assert policy.gates.data.min_success_percent == 100.0
    assert policy.trust.evidence is None
    assert dict(policy.environments) == {}


def test_example_policy_is_valid() -> None:
    policy = load_policy(EXAMPLE)
    assert list(policy.environments) == ["staging", "production"]
    assert policy.promotion_path("production") == ("staging", "production")
    # The example's key file is shipped beside it, resolved from the policy's directory.
    key = policy.trust.keys["ci"]
    assert key.path is not None
    assert key.path.is_file()


# (case, document, the exact one-line diagnostic)
REJECTED = [
    (
        "unknown key with a close match",
        """\
        version: 1
        gates:
          scan:
            fail_on: HIGH
        """,
        "mltoolkit.yaml:4: gates.scan.fail_on: unknown key; did you mean 'fail-on'?",
    ),
    (
        "unknown key without a close match",
        """\
        version: 1
        owner: me
        """,
        "mltoolkit.yaml:2: owner: unknown key; "
        "allowed keys: version, registries, trust, gates, environments, data",
    ),
    (
        "wrong type",
        """\
        version: 1
        trust: {keys: {a: {path: a.pub}}}
        environments:
          production:
            repository: r/x
            approvals:
              required: two
        """,
        "mltoolkit.yaml:7: environments.production.approvals.required: "
        "must be a positive integer, not 'two'",
    ),
    (
        "zero approvals",
        """\
        version: 1
        trust: {keys: {a: {path: a.pub}}}
        environments:
          production:
            repository: r/x
            approvals: {required: 0}
        """,
        "mltoolkit.yaml:6: environments.production.approvals.required: "
        "must be a positive integer, not 0",
    ),
    (
        "boolean where a number is expected",
        """\
        version: 1
        gates:
          data:
            min-success-percent: true
        """,
        "mltoolkit.yaml:4: gates.data.min-success-percent: "
        "must be a number from 0 to 100, not true",
    ),
    (
        "missing required key",
        """\
        version: 1
        environments:
          production:
            from: null
        """,
        "mltoolkit.yaml:3: environments.production.repository: required key is missing",
    ),
    (
        "missing version",
        """\
        # a comment first
        environments: {}
        """,
        "mltoolkit.yaml:1: version: required key is missing",
    ),
    (
        "YAML syntax error",
        """\
        version: 1
        environments:
          production:
            repository: r/x
          - staging
        """,
        "mltoolkit.yaml:5: invalid YAML: expected <block end>, but found '-'; "
        "check indentation and quoting",
    ),
    (
        "empty file",
        "",
        "mltoolkit.yaml:1: the policy file is empty; start it with 'version: 1'",
    ),
    (
        "only comments",
        "# nothing yet\n",
        "mltoolkit.yaml:1: the policy file is empty; start it with 'version: 1'",
    ),
    (
        "a list instead of a mapping",
        "- version: 1\n",
        "mltoolkit.yaml:1: the policy must be a mapping of keys to values, not a list; "
        "start it with 'version: 1'",
    ),
    (
        "duplicate key",
        """\
        version: 1
        environments:
          staging:
            repository: r/a
          staging:
            repository: r/b
        """,
        "mltoolkit.yaml:5: environments.staging: duplicate key (first at line 3); keep one of them",
    ),
    (
        "unsupported version",
        "version: 2\n",
        "mltoolkit.yaml:1: version: unsupported version 2 (this mltoolkit reads 1); "
        "write 'version: 1' or upgrade mltoolkit",
    ),
    (
        "version as a string",
        "version: '1'\n",
        "mltoolkit.yaml:1: version: must be the integer 1, not '1'",
    ),
    (
        "bad duration",
        """\
        version: 1
        gates:
          scan:
            max-db-age: 3 days
        """,
        "mltoolkit.yaml:4: gates.scan.max-db-age: "
        "must be a duration like 30m, 72h or 7d, not '3 days'",
    ),
    (
        "bad threshold",
        """\
        version: 1
        environments:
          production:
            repository: r/x
            metrics:
              auc: "=> 0.9"
        """,
        "mltoolkit.yaml:6: environments.production.metrics.auc: must be a threshold like "
        "'>= 0.90' (one of >=, >, <=, <, ==), not '=> 0.9'",
    ),
    (
        "a bare number as a threshold",
        """\
        version: 1
        environments:
          production:
            repository: r/x
            metrics:
              auc: 0.9
        """,
        "mltoolkit.yaml:6: environments.production.metrics.auc: must be a threshold like "
        "'>= 0.90' (one of >=, >, <=, <, ==), not 0.9",
    ),
    (
        "unknown signer reference",
        """\
        version: 1
        trust:
          keys:
            ci-key: {path: ci.pub}
          evidence:
            sbom: [ci-kye]
        """,
        "mltoolkit.yaml:6: trust.evidence.sbom[0]: unknown signer 'ci-kye'; did you mean 'ci-key'?",
    ),
    (
        "unknown approver",
        """\
        version: 1
        trust:
          keys: {ci: {path: ci.pub}}
        environments:
          production:
            repository: r/x
            approvals:
              required: 1
              from: [bob]
        """,
        "mltoolkit.yaml:9: environments.production.approvals.from[0]: unknown signer 'bob'; "
        "signers: ci",
    ),
    (
        "from naming a missing environment",
        """\
        version: 1
        environments:
          staging:
            repository: r/a
          production:
            from: stagin
            repository: r/b
        """,
        "mltoolkit.yaml:6: environments.production.from: unknown environment 'stagin'; "
        "did you mean 'staging'?",
    ),
    (
        "a cycle",
        """\
        version: 1
        environments:
          staging:
            from: production
            repository: r/a
          production:
            from: staging
            repository: r/b
        """,
        "mltoolkit.yaml:4: environments.staging.from: the promotion order has a cycle: "
        "staging -> production -> staging; one environment must have 'from: null'",
    ),
    (
        "environment name with a space",
        """\
        version: 1
        environments:
          "pre prod":
            repository: r/x
        """,
        "mltoolkit.yaml:3: environments.pre prod: environment names must start with a letter "
        "or digit and hold only letters, digits, '.', '_' and '-'",
    ),
    (
        "one name for a key and an identity",
        """\
        version: 1
        trust:
          keys:
            release: {path: release.pub}
          identities:
            release: {issuer: https://accounts.google.com, subject: a@example.com}
        """,
        "mltoolkit.yaml:6: trust.identities.release: the signer name 'release' is already "
        "used by trust.keys.release; give each signer its own name",
    ),
    (
        "unknown severity",
        """\
        version: 1
        gates:
          scan:
            fail-on: high
        """,
        "mltoolkit.yaml:4: gates.scan.fail-on: must be one of UNKNOWN, LOW, MEDIUM, HIGH, "
        "CRITICAL, NONE, not 'high'; did you mean 'HIGH'?",
    ),
    (
        "required evidence nobody may sign",
        """\
        version: 1
        trust:
          keys: {ci: {path: ci.pub}}
          evidence: {sbom: [ci]}
        environments:
          production:
            repository: r/x
            requires: [sbom, provenance]
        """,
        "mltoolkit.yaml:8: environments.production.requires[1]: no signer is trusted for "
        "provenance evidence; list a signer under trust.evidence.provenance",
    ),
    (
        "more approvers required than can approve",
        """\
        version: 1
        trust:
          keys: {ci: {path: ci.pub}}
        environments:
          production:
            repository: r/x
            approvals: {required: 2}
        """,
        "mltoolkit.yaml:7: environments.production.approvals.required: needs 2 distinct "
        "approvers but only 1 signer may approve; lower 'required' or trust more approvers",
    ),
    (
        "repository with a tag",
        """\
        version: 1
        environments:
          production:
            repository: r/x:latest
        """,
        "mltoolkit.yaml:4: environments.production.repository: must be a repository like "
        "registry.example.com/team/model (no tag or digest), not 'r/x:latest'",
    ),
    (
        "key with both path and uri",
        """\
        version: 1
        trust:
          keys:
            ci:
              path: ci.pub
              uri: awskms:///alias/ci
        """,
        "mltoolkit.yaml:4: trust.keys.ci: give exactly one of 'path' (a public key file) "
        "or 'uri' (a KMS key)",
    ),
    (
        "identity without a subject",
        """\
        version: 1
        trust:
          identities:
            bot:
              issuer: https://accounts.google.com
        """,
        "mltoolkit.yaml:4: trust.identities.bot: give exactly one of 'subject' or 'subject-regexp'",
    ),
    (
        "insecure registry with a scheme",
        """\
        version: 1
        registries:
          insecure: ["http://registry.local"]
        """,
        "mltoolkit.yaml:3: registries.insecure[0]: must be a registry host like "
        "registry.local:5000 (host[:port], no scheme or path), not 'http://registry.local'",
    ),
    (
        "a string that looks like a boolean",
        """\
        version: 1
        gates:
          scan:
            ignore-unfixed: "true"
        """,
        "mltoolkit.yaml:4: gates.scan.ignore-unfixed: must be true or false, not 'true'",
    ),
    (
        "two YAML documents",
        "version: 1\n---\nversion: 1\n",
        "mltoolkit.yaml:3: the file holds more than one YAML document; "
        "keep one document (remove the '---' separator)",
    ),
    (
        "a python tag is never constructed",
        "version: !!python/name:os.system 1\n",
        "mltoolkit.yaml:1: version: unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'",
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"),
    [pytest.param(doc, exp, id=case) for case, doc, exp in REJECTED],
)
def test_rejects_with_file_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str, expected: str
) -> None:
    path = write(tmp_path, monkeypatch, document)
    with pytest.raises(InputError) as caught:
        load_policy(path)
    assert caught.value.diagnostics() == expected
    assert caught.value.exit_code == ExitCode.USAGE


def test_rejects_text_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mltoolkit.yaml").write_bytes(b"version: 1\nowner: \xff\n")
    with pytest.raises(InputError) as caught:
        load_policy(Path("mltoolkit.yaml"))
    assert caught.value.diagnostics() == "mltoolkit.yaml:2: the file is not UTF-8 text"


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="policy file not found"):
        load_policy(tmp_path / "absent.yaml")


def test_find_policy_without_default_file_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_policy(Settings(policy_path=Path("mltoolkit.yaml"), policy_explicit=False)) is None


def test_find_policy_loads_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, monkeypatch, "version: 1\n")
    found = find_policy(Settings(policy_path=Path("mltoolkit.yaml"), policy_explicit=False))
    assert found is not None
    assert found.version == 1


def test_find_policy_named_but_missing_is_an_error(tmp_path: Path) -> None:
    settings = Settings(policy_path=tmp_path / "named.yaml", policy_explicit=True)
    with pytest.raises(InputError, match="policy file not found"):
        find_policy(settings)


def test_the_example_policys_ignore_file_is_a_valid_scan_ignore_file():
    from mltoolkit.scan.ignore import load_ignore_file

    policy = load_policy(Path(__file__).parents[2] / "examples" / "policy" / "mltoolkit.yaml")
    assert policy.gates.scan.ignore_file is not None
    entries = load_ignore_file(policy.gates.scan.ignore_file)
    assert entries and all(entry.reason and entry.expires for entry in entries)
