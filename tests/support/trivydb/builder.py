"""Build a trivy vulnerability DB (BoltDB, schema 2) and serve it as trivy's OCI artifact.

No download: the DB holds a few advisories written here, in the bucket layout trivy-db uses
(``pip::GitHub Security Advisory pip`` -> package -> advisory id; ``vulnerability`` -> id;
``data-source`` -> bucket name). The BoltDB file is written by a tiny Go program (writer.go) on
the real bbolt library, compiled once in GOPATH mode from Debian's golang-go and
golang-github-coreos-bbolt-dev, and cached by the hash of its source.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
WRITER_SOURCE = HERE / "writer.go"
GOCODE = Path("/usr/share/gocode")
CONFIG_MEDIA_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
PIP_BUCKET = "pip::GitHub Security Advisory pip"
INSTALL_HINT = "apt-get install -y golang-go golang-github-coreos-bbolt-dev"


@dataclass(frozen=True)
class Advisory:
    """One advisory for one pip package."""

    id: str
    package: str
    severity: str
    title: str
    vulnerable: str
    patched: tuple[str, ...] = ()

    def entries(self) -> list[dict[str, Any]]:
        """The writer's entries for this advisory."""
        rank = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}[self.severity]
        advisory: dict[str, Any] = {"VulnerableVersions": [self.vulnerable]}
        if self.patched:
            advisory["PatchedVersions"] = list(self.patched)
        return [
            {"path": [PIP_BUCKET, self.package, self.id], "value": advisory},
            {
                "path": ["vulnerability", self.id],
                "value": {
                    "Title": self.title,
                    "Description": f"{self.title} (test advisory of mltoolkit's test DB).",
                    "Severity": self.severity,
                    "VendorSeverity": {"ghsa": rank},
                    "References": [f"https://github.com/advisories?query={self.id}"],
                },
            },
        ]


# requests 2.19.0 is hit by all three: one HIGH with a fix, one MEDIUM with a fix, one without.
ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        "CVE-2018-18074",
        "requests",
        "HIGH",
        "Requests: Authorization header leaked on an HTTPS to HTTP redirect",
        "< 2.20.0",
        ("2.20.0",),
    ),
    Advisory(
        "CVE-2023-32681",
        "requests",
        "MEDIUM",
        "Requests: Proxy-Authorization header leaked to destination servers",
        ">= 2.3.0, < 2.31.0",
        ("2.31.0",),
    ),
    Advisory(
        "CVE-2099-0001",
        "requests",
        "LOW",
        "Test-only advisory with no fixed version",
        ">= 2.0.0",
    ),
)


def _data_source() -> dict[str, Any]:
    return {
        "path": ["data-source", PIP_BUCKET],
        "value": {
            "ID": "ghsa",
            "Name": "GitHub Security Advisory pip",
            "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip",
        },
    }


def cache_root() -> Path:
    """Where compiled writers and built DBs are kept between runs."""
    base = os.environ.get("MLTOOLKIT_CACHE_DIR") or str(Path.home() / ".cache" / "mltoolkit")
    return Path(base) / "test-trivydb"


def build_writer(cache: Path | None = None) -> Path:
    """Compile writer.go (once per source hash) and return the binary's path."""
    source = WRITER_SOURCE.read_bytes()
    key = hashlib.sha256(source).hexdigest()[:16]
    cache = cache or cache_root()
    binary = cache / f"writer-{key}"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None or not (GOCODE / "src" / "go.etcd.io" / "bbolt").is_dir():
        raise RuntimeError(f"building the test trivy DB needs Go and bbolt: {INSTALL_HINT}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        gopath = Path(tmp)
        pkg = gopath / "src" / "trivydbwriter"
        pkg.mkdir(parents=True)
        (pkg / "main.go").write_bytes(source)
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPROXY": "off",
            "GOFLAGS": "",
            "GOPATH": f"{gopath}:{GOCODE}",
            "GOCACHE": str(cache / "gocache"),
            "CGO_ENABLED": "0",
        }
        out = gopath / "writer"
        proc = subprocess.run(
            [go, "build", "-o", str(out), "."],
            cwd=pkg,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"go build of the trivy DB writer failed: {proc.stderr.strip()}")
        out.replace(binary)
    return binary


def write_db(
    directory: Path,
    *,
    updated_at: dt.datetime,
    advisories: tuple[Advisory, ...] = ADVISORIES,
    writer: Path | None = None,
) -> Path:
    """Write ``trivy.db`` and ``metadata.json`` into ``directory`` (created); return it."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = [_data_source()]
    for advisory in advisories:
        entries.extend(advisory.entries())
    db_file = directory / "trivy.db"
    db_file.unlink(missing_ok=True)
    proc = subprocess.run(
        [str(writer or build_writer()), str(db_file)],
        input=json.dumps(entries).encode(),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"trivy DB writer failed: {proc.stderr.decode().strip()}")
    stamp = updated_at.astimezone(dt.UTC)
    metadata = {
        "Version": 2,
        "NextUpdate": (stamp + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "UpdatedAt": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "DownloadedAt": "0001-01-01T00:00:00Z",
    }
    (directory / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return directory


def db_layer(directory: Path) -> bytes:
    """The artifact's one layer: a gzipped tar of trivy.db and metadata.json."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("trivy.db", "metadata.json"):
            tar.add(directory / name, arcname=name)
    return gzip.compress(raw.getvalue(), mtime=0)


def put_blob(session: requests.Session, base: str, repo: str, data: bytes) -> str:
    """Upload one blob (monolithic POST + PUT) unless the registry has it; return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if session.head(f"{base}/v2/{repo}/blobs/{digest}", timeout=30).status_code == 200:
        return digest
    start = session.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=30)
    start.raise_for_status()
    location = start.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    put = session.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    put.raise_for_status()
    return digest


def push_db(registry: str, repository: str, tag: str, directory: Path) -> str:
    """Push the DB in ``directory`` as trivy's OCI artifact; return ``registry/repo:tag``."""
    base = f"http://{registry}"
    layer = db_layer(directory)
    config = b"{}"
    with requests.Session() as session:
        layer_digest = put_blob(session, base, repository, layer)
        config_digest = put_blob(session, base, repository, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": layer_digest,
                    "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": "db.tar.gz"},
                }
            ],
        }
        put = session.put(
            f"{base}/v2/{repository}/manifests/{tag}",
            data=json.dumps(manifest).encode(),
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            timeout=30,
        )
        put.raise_for_status()
    return f"{registry}/{repository}:{tag}"
