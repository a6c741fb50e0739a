"""The commented-out blocks of the annotated example policy load once uncommented.

``examples/policy/mltoolkit.yaml`` shows optional settings (an identity's ``claims:``, the
``data.spark`` section) as comments under a line ending ``uncomment:``. A reader who removes the
``# `` must get a policy the loader and the JSON Schema both accept, with the meaning the
comments promise.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jsonschema
import yaml

from mltoolkit.policy import load_policy
from mltoolkit.policy.schema import schema
from mltoolkit.signing.certificate_claims import ClaimRule

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy" / "mltoolkit.yaml"
_COMMENTED = re.compile(r"^(\s*)# ?(.*)$")


def uncommented(text: str) -> tuple[str, int]:
    """``text`` with every block below an ``uncomment:`` line uncommented, and how many blocks."""
    lines = text.splitlines()
    blocks = 0
    inside = False
    for number, line in enumerate(lines):
        match = _COMMENTED.match(line)
        if inside and match:
            lines[number] = match.group(1) + match.group(2)
            continue
        inside = bool(match) and line.rstrip().endswith("uncomment:")
        blocks += inside
    return "\n".join(lines) + "\n", blocks


def test_the_optional_blocks_load_and_mean_what_the_comments_say(tmp_path: Path) -> None:
    text, blocks = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    assert blocks == 2
    shutil.copytree(EXAMPLE.parent, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "mltoolkit.yaml"
    path.write_text(text, encoding="utf-8")

    policy = load_policy(path)
    assert policy.trust.identities["github-release"].claims == (
        ClaimRule("source-repository-uri", value="https://github.com/example/card-fraud"),
        ClaimRule("source-repository-identifier", value="123456789"),
        ClaimRule("source-repository-ref", value="refs/heads/main"),
        ClaimRule("runner-environment", value="github-hosted"),
        ClaimRule("build-trigger", regexp="push|workflow_dispatch"),
    )
    spark = policy.data.spark
    assert spark.remote == "sc://spark-connect.internal:15002/;use_ssl=true"
    assert spark.master is None
    assert dict(spark.conf) == {
        "spark.sql.shuffle.partitions": "64",
        "spark.sql.ansi.enabled": "true",
    }
    jsonschema.validate(yaml.safe_load(text), schema())


def test_the_example_as_shipped_leaves_them_off() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.trust.identities["github-release"].claims == ()
    assert policy.data.spark.remote is None and policy.data.spark.master is None
