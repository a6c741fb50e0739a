"""Benchmark: verifying one image with one signature and five attestations on the local registry.

    eval "$(scripts/services env)"           # MLTOOLKIT_REGISTRY
    .venv/bin/python bench/verify_signing.py [--rounds 7] [--write]

Pushes a tiny image, signs it (legacy .sig + bundle referrer) and attests five predicate types
(.att + bundle referrers), then measures, per round, in one process:
- `verify_signatures` (what `mltoolkit verify` does): registry requests, TCP connections, time;
- `verify_attestations` for one type and for all types;
- `collect_evidence` (what the promotion gates read): signatures and all attestations at once;
- skopeo (>= 1.11, when found) doing the signature part: `skopeo copy` under a sigstoreSigned
  policy (it also copies the one tiny layer to a dir:, which it needs to do to apply a policy).
--write appends the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.images import push_image  # noqa: E402

from mltoolkit.evidence import collect_evidence  # noqa: E402
from mltoolkit.oci.registry import RegistryClient  # noqa: E402
from mltoolkit.signing.attest import PREDICATE_TYPES, attest_image  # noqa: E402
from mltoolkit.signing.keys import generate_key_pair, load_public_key, load_signer  # noqa: E402
from mltoolkit.signing.sign import sign_image  # noqa: E402
from mltoolkit.signing.target import pinned_target, resolved_target  # noqa: E402
from mltoolkit.signing.verify import (  # noqa: E402
    Trust,
    TrustedKey,
    verify_attestations,
    verify_signatures,
)

TYPES = ["slsaprovenance1", "cyclonedx", "spdxjson", "vuln", "openvex"]


class Counter:
    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0

    def install(self, client: RegistryClient) -> None:
        transport: Any = client.transport
        original = transport.request

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            return original(*args, **kwargs)

        transport.request = counting
        new_conn = urllib3.connectionpool.HTTPConnectionPool._new_conn
        counter = self

        def counting_conn(pool: Any) -> Any:
            counter.connections += 1
            return new_conn(pool)

        urllib3.connectionpool.HTTPConnectionPool._new_conn = counting_conn  # type: ignore[method-assign]


def measure(fn: Any) -> tuple[float, int, int, Any]:
    with RegistryClient() as client:
        counter = Counter()
        counter.install(client)
        start = time.perf_counter()
        result = fn(client)
        elapsed = time.perf_counter() - start
    return elapsed, counter.requests, counter.connections, result


def skopeo_binary() -> str | None:
    tools = Path(os.environ.get("MLTOOLKIT_TOOLS_DIR", "/opt/mltoolkit-tools")) / "bin" / "skopeo"
    return os.environ.get("MLTOOLKIT_SKOPEO") or (
        str(tools) if tools.exists() else shutil.which("skopeo")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    registry = os.environ["MLTOOLKIT_REGISTRY"]
    work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    generate_key_pair(work / "k", b"")
    os.environ["MLTOOLKIT_KEY_PASSWORD"] = ""
    signer = load_signer(str(work / "k.key"))
    with RegistryClient() as client:
        image = push_image(client, f"{registry}/bench/verify-{uuid.uuid4().hex[:8]}")
        target = pinned_target(client, image, action="sign")
        sign_image(client, target, signer, {}, "both")
        for name in TYPES:
            attest_image(client, target, signer, PREDICATE_TYPES[name], {"n": name}, "both")
    trust = Trust(keys=[TrustedKey("k.pub", load_public_key(str(work / "k.pub")))])

    def sigs(client: RegistryClient) -> int:
        return len(verify_signatures(client, resolved_target(client, image), trust).verified)

    def one_type(client: RegistryClient) -> int:
        t = resolved_target(client, image)
        return len(verify_attestations(client, t, trust, PREDICATE_TYPES["vuln"]).verified)

    def all_types(client: RegistryClient) -> int:
        return len(verify_attestations(client, resolved_target(client, image), trust).verified)

    def evidence(client: RegistryClient) -> int:
        return len(collect_evidence(client, f"{image.name}@{image.digest}", trust).verified)

    rows: dict[str, list[tuple[float, int, int, Any]]] = {
        "signatures": [],
        "one attestation type": [],
        "all attestations": [],
        "collect_evidence (signatures + all attestations)": [],
    }
    skopeo = skopeo_binary()
    skopeo_times: list[float] = []
    policy = work / "policy.json"
    regd = work / "registries.d"
    regd.mkdir()
    (regd / "r.yaml").write_text(f"docker:\n  {registry}:\n    use-sigstore-attachments: true\n")
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {
                        registry: [
                            {
                                "type": "sigstoreSigned",
                                "keyPath": str(work / "k.pub"),
                                "signedIdentity": {"type": "matchRepository"},
                            }
                        ]
                    }
                },
            }
        )
    )
    for _ in range(args.rounds):
        rows["signatures"].append(measure(sigs))
        rows["one attestation type"].append(measure(one_type))
        rows["all attestations"].append(measure(all_types))
        rows["collect_evidence (signatures + all attestations)"].append(measure(evidence))
        if skopeo:
            out = work / f"out-{uuid.uuid4().hex[:6]}"
            start = time.perf_counter()
            done = subprocess.run(
                [
                    skopeo,
                    "--policy",
                    str(policy),
                    "--registries.d",
                    str(regd),
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{image.name}@{image.digest}",
                    f"dir:{out}",
                ],
                capture_output=True,
                check=False,
            )
            skopeo_times.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
    lines = [
        f"## verify: 1 image, 1 signature, 5 attestations, both formats ({dt.date.today()})",
        "",
        "| what | verified items | registry requests | TCP connections | median ms | min ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, results in rows.items():
        times = [r[0] * 1000 for r in results]
        lines.append(
            f"| {name} | {results[0][3]} | {results[0][1]} | {results[0][2]} "
            f"| {statistics.median(times):.1f} | {min(times):.1f} |"
        )
    if skopeo_times:
        ms = [t * 1000 for t in skopeo_times]
        lines.append(
            "| skopeo copy under sigstoreSigned policy (process) | 1 | - | - "
            f"| {statistics.median(ms):.1f} | {min(ms):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
