"""`mltoolkit scan` for real: trivy 0.76, images built by the Docker engine and pushed to the
local registry, and a test vulnerability DB served from that registry as trivy's OCI artifact."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nSummary: HTTP\n"
SITE = "usr/lib/python3.11/site-packages"


def _push_image(
    docker_client,
    registry: str,
    busybox_image: str,
    context: Path,
    name: str,
    files: Mapping[str, bytes],
) -> str:  # type: ignore[no-untyped-def]
    """Build FROM the busybox base with ``files`` copied in, push it, return ``repo@digest``."""
    for relative, data in files.items():
        target = context / "root" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY root/ /\n")
    repository = f"{registry}/mltoolkit-test/scan-{name}"
    docker_client.images.build(path=str(context), tag=f"{repository}:test", rm=True, forcerm=True)
    digest = None
    for line in docker_client.images.push(repository, tag="test", stream=True, decode=True):
        if "error" in line:
            pytest.fail(f"push of {repository} failed: {line['error']}")
        digest = (line.get("aux") or {}).get("Digest") or digest
    assert digest, f"the push of {repository} reported no digest"
    return f"{repository}@{digest}"


def _fake_aws_credentials() -> bytes:
    """A made-up AWS key pair in the shape trivy's rules detect (generated, never a real key)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret = "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(40)
    )
    return f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n".encode()


@pytest.fixture(scope="session")
def vulnerable_image(docker_client, registry, busybox_image, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """An image with requests 2.19.0 installed (its dist-info METADATA)."""
    files = {f"{SITE}/requests-2.19.0.dist-info/METADATA": METADATA}
    return _push_image(
        docker_client, registry, busybox_image, tmp_path_factory.mktemp("vuln"), "vuln", files
    )


@pytest.fixture(scope="session")
def secret_image(docker_client, registry, busybox_image, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """An image with a planted (made-up) AWS access key id and secret access key."""
    files = {"app/config/credentials": _fake_aws_credentials()}
    return _push_image(
        docker_client, registry, busybox_image, tmp_path_factory.mktemp("secret"), "secret", files
    )


@pytest.fixture(scope="session")
def fresh_cache(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("trivy-cache-fresh")


@pytest.fixture(scope="session")
def stale_cache(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("trivy-cache-stale")


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def mltoolkit(trivy_bin: Path, services: Mapping[str, str]) -> Run:
    def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            **services,
            "MLTOOLKIT_TRIVY": str(trivy_bin),
            "MLTOOLKIT_PLATFORM": "local",
        }
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "mltoolkit", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def scan(mltoolkit: Run, trivy_db_repository: str, fresh_cache: Path) -> Run:
    """`mltoolkit scan IMAGE` with the fresh test DB and its own cache."""

    def run(image: str, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        return mltoolkit(
            "scan",
            image,
            "--db-repository",
            trivy_db_repository,
            "--cache-dir",
            str(fresh_cache),
            *args,
            **kwargs,
        )

    return run


def _result(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def test_vulnerable_package_fails_at_high_with_cve_severity_and_fix(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    proc = scan(vulnerable_image, "--fail-on", "HIGH", "--json", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "scan gate failed" in proc.stderr and "Traceback" not in proc.stderr
    doc = _result(out)
    assert doc["verdict"] == "fail" and doc["digest"] == vulnerable_image.split("@")[1]
    (cve,) = [f for f in doc["failing"] if f["id"] == "CVE-2018-18074"]
    assert cve["severity"] == "HIGH"
    assert cve["package"] == "requests" and cve["installed_version"] == "2.19.0"
    assert cve["fixed_version"] == "2.20.0"
    assert cve["purl"] == "pkg:pypi/requests@2.19.0"
    assert doc["counts"]["HIGH"] == 1 and doc["counts"]["MEDIUM"] == 1
    assert doc["db"]["stale"] is False and doc["trivy"]["version"] == "0.76.0"
    assert "CVE-2018-18074" in proc.stdout and "2.20.0" in proc.stdout


def test_vulnerable_package_passes_at_critical(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    proc = scan(vulnerable_image, "--fail-on", "CRITICAL", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = _result(out)
    assert doc["verdict"] == "pass" and doc["failing"] == []
    assert "CVE-2018-18074" in [f["id"] for f in doc["reported"]]


def test_report_severity_does_not_change_the_verdict(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    proc = scan(
        vulnerable_image, "--fail-on", "CRITICAL", "--report-severity", "HIGH", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    doc = _result(out)
    assert [f["id"] for f in doc["reported"]] == ["CVE-2018-18074"]
    assert doc["below_report_severity"] == 2


def test_sarif_and_gitlab_reports_validate(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    sarif, gitlab = tmp_path / "scan.sarif", tmp_path / "gl-container-scanning.json"
    proc = scan(vulnerable_image, "--sarif", str(sarif), "--gitlab-report", str(gitlab))
    assert proc.returncode == 1, proc.stderr
    sarif_doc, gitlab_doc = _result(sarif), _result(gitlab)
    jsonschema.Draft4Validator(
        json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    ).validate(sarif_doc)
    gl_schema = json.loads(
        (SCHEMAS / "gitlab-container-scanning-report-format-15.2.4.json").read_text()
    )
    jsonschema.Draft7Validator(gl_schema).validate(gitlab_doc)
    assert "CVE-2018-18074" in {r["ruleId"] for r in sarif_doc["runs"][0]["results"]}
    (high,) = [
        v for v in gitlab_doc["vulnerabilities"] if v["identifiers"][0]["value"] == "CVE-2018-18074"
    ]
    assert high["severity"] == "High" and high["solution"] == "Upgrade requests to 2.20.0"


def test_planted_cloud_key_fails_on_secrets(scan: Run, secret_image: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = scan(secret_image, "--fail-on", "CRITICAL", "--json", str(out))
    assert proc.returncode == 1, proc.stderr
    doc = _result(out)
    rules = {f["id"] for f in doc["failing"] if f["kind"] == "secret"}
    assert {"aws-access-key-id", "aws-secret-access-key"} <= rules
    # The secret itself never reaches the result.
    key_line = next(f for f in doc["failing"] if f["id"] == "aws-access-key-id")
    assert "AKIA" not in json.dumps(doc) and key_line["target"].endswith("app/config/credentials")


def _ignore_file(path: Path, expires: dt.date) -> Path:
    path.write_text(
        "ignores:\n"
        "  - id: aws-access-key-id\n"
        "    path: app/config/credentials\n"
        "    reason: canary credentials planted to detect leaks\n"
        f"    expires: {expires.isoformat()}\n"
        "  - id: aws-secret-access-key\n"
        "    path: app/config/*\n"
        "    reason: canary credentials planted to detect leaks\n"
        f"    expires: {expires.isoformat()}\n"
    )
    return path


def test_unexpired_ignore_entry_lets_the_secret_pass(
    scan: Run, secret_image: str, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    ignore = _ignore_file(tmp_path / "ignore.yaml", today + dt.timedelta(days=30))
    out = tmp_path / "result.json"
    proc = scan(secret_image, "--ignore-file", str(ignore), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = _result(out)
    assert doc["verdict"] == "pass"
    ignored = {i["id"]: i["ignored_by"] for i in doc["ignored"]}
    assert ignored["aws-access-key-id"]["reason"] == "canary credentials planted to detect leaks"
    assert ignored["aws-access-key-id"]["source"] == f"{ignore}:2"


def test_expired_ignore_entry_fails_and_is_named(
    scan: Run, secret_image: str, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    ignore = _ignore_file(tmp_path / "ignore.yaml", today - dt.timedelta(days=1))
    out = tmp_path / "result.json"
    proc = scan(secret_image, "--ignore-file", str(ignore), "--json", str(out))
    assert proc.returncode == 1, proc.stderr
    doc = _result(out)
    assert doc["ignored"] == []
    expired = {e["id"]: e for e in doc["expired_ignores"]}
    assert set(expired) == {"aws-access-key-id", "aws-secret-access-key"}
    assert expired["aws-access-key-id"]["matched"] == ["aws-access-key-id"]
    assert "ignore entry aws-access-key-id" in proc.stdout and "expired" in proc.stdout


def test_ignore_entry_without_reason_is_exit_2(
    scan: Run, secret_image: str, tmp_path: Path
) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("ignores:\n  - id: aws-access-key-id\n    expires: 2030-01-01\n")
    proc = scan(secret_image, "--ignore-file", str(ignore))
    assert proc.returncode == 2
    assert f"{ignore}:2" in proc.stderr and "has no 'reason'" in proc.stderr


def test_stale_db_fails_closed(
    mltoolkit: Run, vulnerable_image: str, stale_trivy_db_repository: str, stale_cache: Path
) -> None:
    proc = mltoolkit(
        "scan",
        vulnerable_image,
        "--fail-on",
        "CRITICAL",
        "--db-repository",
        stale_trivy_db_repository,
        "--cache-dir",
        str(stale_cache),
    )
    assert proc.returncode == 3, proc.stderr
    assert "vulnerability DB is 5d" in proc.stderr and "--allow-stale-db" in proc.stderr


def test_allow_stale_db_passes_and_says_so(
    mltoolkit: Run,
    vulnerable_image: str,
    stale_trivy_db_repository: str,
    stale_cache: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "result.json"
    proc = mltoolkit(
        "scan",
        vulnerable_image,
        "--fail-on",
        "CRITICAL",
        "--allow-stale-db",
        "--json",
        str(out),
        "--db-repository",
        stale_trivy_db_repository,
        "--cache-dir",
        str(stale_cache),
    )
    assert proc.returncode == 0, proc.stderr
    doc = _result(out)
    assert doc["db"]["stale"] is True and doc["options"]["allow_stale_db"] is True
    assert any("stale" in w for w in doc["warnings"])
    assert "STALE" in proc.stdout


def test_offline_uses_the_shared_cache(
    scan: Run, mltoolkit: Run, vulnerable_image: str, fresh_cache: Path, tmp_path: Path
) -> None:
    assert scan(vulnerable_image, "--fail-on", "CRITICAL").returncode == 0
    proc = mltoolkit(
        "scan",
        vulnerable_image,
        "--fail-on",
        "CRITICAL",
        "--offline",
        "--cache-dir",
        str(fresh_cache),
    )
    assert proc.returncode == 0, proc.stderr
    empty = mltoolkit("scan", vulnerable_image, "--offline", "--cache-dir", str(tmp_path / "empty"))
    assert empty.returncode == 3 and "cache holds no vulnerability DB" in empty.stderr


def test_a_tag_is_refused_with_its_digest(scan: Run, vulnerable_image: str) -> None:
    repository, digest = vulnerable_image.split("@")
    proc = scan(f"{repository}:test")
    assert proc.returncode == 2
    assert f"{repository}@{digest}" in proc.stderr


def test_missing_trivy_is_exit_3_with_how_to_install(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    proc = scan(vulnerable_image, env={"MLTOOLKIT_TRIVY": str(tmp_path / "no-trivy")})
    assert proc.returncode == 3
    assert "scripts/install-trivy" in proc.stderr and "Traceback" not in proc.stderr


def test_attest_records_a_signed_vuln_attestation(
    scan: Run, mltoolkit: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    password = {"MLTOOLKIT_KEY_PASSWORD": "scan-test-password"}
    keys = mltoolkit("keys", "generate", "--output-prefix", str(tmp_path / "cosign"), env=password)
    assert keys.returncode == 0, keys.stderr
    proc = scan(
        vulnerable_image,
        "--fail-on",
        "HIGH",
        "--attest",
        "--key",
        str(tmp_path / "cosign.key"),
        "--json",
        str(tmp_path / "result.json"),
        env=password,
    )
    assert proc.returncode == 1, proc.stderr  # a failed gate is recorded as evidence too
    assert set(_result(tmp_path / "result.json")["attestation"]) == {"legacy", "bundle"}
    verified = mltoolkit(
        "--json",
        "verify-attestation",
        vulnerable_image,
        "--type",
        "vuln",
        "--key",
        str(tmp_path / "cosign.pub"),
    )
    assert verified.returncode == 0, verified.stderr
    text = verified.stdout
    assert "https://cosign.sigstore.dev/attestation/vuln/v1" in text
    assert '"verdict": "fail"' in text and "CVE-2018-18074" in text


def test_attest_needs_a_key(scan: Run, vulnerable_image: str) -> None:
    proc = scan(vulnerable_image, "--attest")
    assert proc.returncode == 2 and "exactly one of --key and --keyless" in proc.stderr


def test_policy_gates_scan_applies_and_flags_override_it(
    scan: Run, vulnerable_image: str, tmp_path: Path
) -> None:
    (tmp_path / "scan-ignore.yaml").write_text(
        "ignores:\n  - id: CVE-2023-32681\n    reason: no proxies here\n    expires: 2099-01-01\n"
    )
    policy = tmp_path / "mltoolkit.yaml"
    policy.write_text(
        "version: 1\n"
        "gates:\n"
        "  scan:\n"
        "    fail-on: CRITICAL\n"
        "    report-severity: MEDIUM\n"
        "    ignore-file: scan-ignore.yaml\n"
        "    scanners: [vuln]\n"
    )
    out = tmp_path / "result.json"
    proc = scan(vulnerable_image, "--json", str(out), env={"MLTOOLKIT_POLICY": str(policy)})
    assert proc.returncode == 0, proc.stderr
    doc = _result(out)
    assert doc["options"]["fail_on"] == "CRITICAL" and doc["options"]["scanners"] == ["vuln"]
    assert [i["id"] for i in doc["ignored"]] == ["CVE-2023-32681"]
    assert [f["id"] for f in doc["reported"]] == ["CVE-2018-18074"]
    stricter = scan(vulnerable_image, "--fail-on", "HIGH", env={"MLTOOLKIT_POLICY": str(policy)})
    assert stricter.returncode == 1, stricter.stderr


def test_global_json_prints_one_document_and_keeps_the_exit_code(
    mltoolkit: Run, trivy_db_repository: str, fresh_cache: Path, vulnerable_image: str
) -> None:
    proc = mltoolkit(
        "--json",
        "scan",
        vulnerable_image,
        "--db-repository",
        trivy_db_repository,
        "--cache-dir",
        str(fresh_cache),
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert doc["verdict"] == "fail" and "scan gate failed" in proc.stderr
