"""The runner: trivy's command line, and start/finish around a fake trivy (a shell script that
prints a saved real trivy report; the real binary runs in tests/integration/test_scan.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mltoolkit.errors import ExternalError
from mltoolkit.scan.db import DbOptions
from mltoolkit.scan.ignore import parse_ignore_text
from mltoolkit.scan.options import GateOptions
from mltoolkit.scan.runner import ScanRequest, run_scan, start_scan, trivy_image_args

DATA = Path(__file__).resolve().parents[1] / "data" / "scan"
IMAGE = "127.0.0.1:5555/app@sha256:" + "cd" * 32


def _fake_trivy(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "trivy"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then echo \'{"Version":"0.76.0"}\'; exit 0; fi\n'
        f"{body}\n"
    )
    script.chmod(0o755)
    return script


def _cache(tmp_path: Path, age: dt.timedelta) -> Path:
    cache = tmp_path / "cache"
    (cache / "db").mkdir(parents=True)
    updated = dt.datetime.now(dt.UTC) - age
    (cache / "db" / "metadata.json").write_text(
        json.dumps({"Version": 2, "UpdatedAt": updated.strftime("%Y-%m-%dT%H:%M:%SZ")})
    )
    return cache


def _request(cache: Path, **db: object) -> ScanRequest:
    return ScanRequest(
        image=IMAGE,
        digest=IMAGE.split("@")[1],
        gate=GateOptions(scanners=("vuln", "secret")),
        db=DbOptions(cache_dir=cache, **db),  # type: ignore[arg-type]
        insecure=True,
    )


def test_trivy_gets_the_digest_the_scanners_and_the_db_source(tmp_path: Path) -> None:
    args = trivy_image_args(_request(tmp_path, repository="127.0.0.1:5555/db:2"))
    assert args[0] == "image" and args[-1] == IMAGE
    assert args[args.index("--format") + 1] == "json"
    assert args[args.index("--scanners") + 1] == "vuln,secret"
    assert args[args.index("--image-src") + 1] == "remote"
    assert args[args.index("--db-repository") + 1] == "127.0.0.1:5555/db:2"
    assert args.count("--insecure") == 1
    assert "--severity" not in args and "--ignore-unfixed" not in args


def test_a_scan_reads_trivy_output_and_the_db_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = DATA / "trivy-rootfs-report.json"
    monkeypatch.setenv("MLTOOLKIT_TRIVY", str(_fake_trivy(tmp_path, f"cat {report}")))
    cache = _cache(tmp_path, dt.timedelta(hours=2))
    running = start_scan(_request(cache, repository="127.0.0.1:5555/db:2"))
    entry = "- {id: aws-access-key-id, reason: canary, expires: 2099-01-01}"
    ignores = parse_ignore_text(entry, "f")
    outcome = running.finish(ignores)
    assert outcome.trivy_version == "0.76.0"
    assert outcome.db is not None and not outcome.db.stale
    assert [i.finding.id for i in outcome.gate.ignored] == ["aws-access-key-id"]
    assert not outcome.passed  # the secret access key and CVE-2018-18074 remain


def test_a_stale_db_fails_after_the_scan_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = DATA / "trivy-rootfs-report.json"
    monkeypatch.setenv("MLTOOLKIT_TRIVY", str(_fake_trivy(tmp_path, f"cat {report}")))
    cache = _cache(tmp_path, dt.timedelta(days=4))
    with pytest.raises(ExternalError, match="over the 3d 0h maximum"):
        run_scan(_request(cache, repository="r/db:2"))
    allowed = run_scan(_request(cache, repository="r/db:2", allow_stale=True))
    assert allowed.db is not None and allowed.db.stale
    assert any("stale" in w for w in allowed.warnings)
