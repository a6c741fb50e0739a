"""The published JSON Schema: same as the shipped copy, well formed, agreeing with the loader."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mltoolkit.errors import InputError
from mltoolkit.policy import load_policy, values
from mltoolkit.policy.schema import schema, schema_text

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "schemas" / "mltoolkit-policy.schema.json"
SHIPPED = REPO / "mltoolkit" / "policy" / "schema.json"
EXAMPLE = REPO / "examples" / "policy" / "mltoolkit.yaml"


def test_published_and_shipped_schemas_are_identical() -> None:
    assert PUBLISHED.read_bytes() == SHIPPED.read_bytes()
    assert schema_text() == PUBLISHED.read_text(encoding="utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    document = schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def _objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{where}/{index}")


def test_every_object_is_closed_and_every_property_described() -> None:
    document = schema()
    checked = 0
    for where, node in _objects(document):
        if node.get("type") == "object":
            # Fixed keys: closed; user-chosen names: every value has a schema.
            expected: Any = False if "properties" in node else dict
            extra = node.get("additionalProperties")
            if expected is False:
                assert extra is False, f"{where} must say additionalProperties: false"
            else:
                assert isinstance(extra, dict), f"{where} must give its values a schema"
        if where.endswith("/properties") or where == "#/$defs":
            for name, prop in node.items():
                assert prop.get("description"), f"{where}/{name} has no description"
                checked += 1
    assert checked > 40


def test_schema_patterns_are_the_loaders_patterns() -> None:
    defs = schema()["$defs"]
    props = schema()["properties"]
    assert defs["name"]["pattern"] == values.NAME_PATTERN
    assert defs["duration"]["pattern"] == values.DURATION_PATTERN
    assert defs["threshold"]["pattern"] == values.THRESHOLD_PATTERN
    assert defs["key"]["properties"]["uri"]["pattern"] == values.KMS_URI_PATTERN
    assert defs["environment"]["properties"]["repository"]["pattern"] == values.REPOSITORY_PATTERN
    assert props["registries"]["properties"]["insecure"]["items"]["pattern"] == values.HOST_PATTERN


HEAD = """\
version: 1
trust:
  keys:
    ci: {path: ci.pub}
    kms: {uri: "awskms:///alias/release"}
  identities:
    bot:
      issuer: https://token.actions.githubusercontent.com
      subject-regexp: ^https://github\\.com/o/r/
"""

GOOD = {
    "minimal": "version: 1\n",
    "example": EXAMPLE.read_text(encoding="utf-8"),
    "signers and environments": HEAD
    + """\
gates:
  scan: {fail-on: NONE, scanners: [secret]}
  data: {min-success-percent: 0}
environments:
  dev: {from: null, repository: localhost:5000/m}
  prod:
    from: dev
    repository: ghcr.io/o/m
    requires: []
    metrics: {acc: "== 1", loss: "<.5", drift: "< 1e-3"}
    approvals: {required: 2.0, from: [ci, kms]}
""",
}

# Rejected by both the schema and the loader.
BAD_FOR_BOTH = {
    "unknown top-level key": "version: 1\nowner: me\n",
    "unknown nested key": "version: 1\ngates: {scan: {fail_on: HIGH}}\n",
    "missing version": "registries: {}\n",
    "list at the top": "- version: 1\n",
    "unsupported version": "version: 2\n",
    "version as a string": "version: '1'\n",
    "section as a list": "version: 1\ngates: []\n",
    "section as null": "version: 1\ntrust:\n",
    "bad severity": "version: 1\ngates: {scan: {fail-on: high}}\n",
    "NONE as report severity": "version: 1\ngates: {scan: {report-severity: NONE}}\n",
    "bad scanner": "version: 1\ngates: {scan: {scanners: [virus]}}\n",
    "no scanners": "version: 1\ngates: {scan: {scanners: []}}\n",
    "twice the same scanner": "version: 1\ngates: {scan: {scanners: [vuln, vuln]}}\n",
    "string boolean": "version: 1\ngates: {scan: {ignore-unfixed: 'true'}}\n",
    "bad duration": "version: 1\ngates: {scan: {max-db-age: 3 days}}\n",
    "zero duration": "version: 1\ngates: {data: {max-age: 0h}}\n",
    "percent above 100": "version: 1\ngates: {data: {min-success-percent: 101}}\n",
    "empty ignore file": "version: 1\ngates: {scan: {ignore-file: ''}}\n",
    "insecure with a scheme": "version: 1\nregistries: {insecure: ['http://r']}\n",
    "key with path and uri": "version: 1\ntrust: {keys: {k: {path: a, uri: 'awskms:///a'}}}\n",
    "key with neither": "version: 1\ntrust: {keys: {k: {}}}\n",
    "unknown KMS": "version: 1\ntrust: {keys: {k: {uri: 'foo://a'}}}\n",
    "identity with issuer twice": (
        "version: 1\ntrust: {identities: {i: {issuer: a, issuer-regexp: b, subject: c}}}\n"
    ),
    "identity without subject": "version: 1\ntrust: {identities: {i: {issuer: a}}}\n",
    "signer name with a space": "version: 1\ntrust: {keys: {'c i': {path: a}}}\n",
    "unknown evidence type": HEAD + "  evidence: {sbomm: [ci]}\n",
    "empty evidence list": HEAD + "  evidence: {sbom: []}\n",
    "signer listed twice": HEAD + "  evidence: {sbom: [ci, ci]}\n",
    "environment without repository": "version: 1\nenvironments: {prod: {from: null}}\n",
    "repository with a tag": "version: 1\nenvironments: {prod: {repository: 'r/m:1'}}\n",
    "repository upper case": "version: 1\nenvironments: {prod: {repository: r/Model}}\n",
    "from as a number": "version: 1\nenvironments: {prod: {repository: r/m, from: 5}}\n",
    "unknown requirement": HEAD + "environments: {p: {repository: r/m, requires: [approval]}}\n",
    "requirement twice": HEAD + "environments: {p: {repository: r/m, requires: [sbom, sbom]}}\n",
    "metric as a number": "version: 1\nenvironments: {p: {repository: r/m, metrics: {a: 0.9}}}\n",
    "metric without operator": (
        "version: 1\nenvironments: {p: {repository: r/m, metrics: {a: '0.9'}}}\n"
    ),
    "approvals without required": HEAD + "environments: {p: {repository: r/m, approvals: {}}}\n",
    "zero approvals": HEAD + "environments: {p: {repository: r/m, approvals: {required: 0}}}\n",
    "boolean approvals": (
        HEAD + "environments: {p: {repository: r/m, approvals: {required: true}}}\n"
    ),
    "fractional approvals": (
        HEAD + "environments: {p: {repository: r/m, approvals: {required: 1.5}}}\n"
    ),
    "empty approvers": (
        HEAD + "environments: {p: {repository: r/m, approvals: {required: 1, from: []}}}\n"
    ),
}

# Rejected by the loader only: what JSON Schema cannot see (YAML duplicates, references
# between sections, cycles, regexps). Editors accept these; `policy validate` does not.
BAD_FOR_LOADER_ONLY = {
    "duplicate key": "version: 1\ngates: {}\ngates: {}\n",
    "unknown signer": HEAD + "  evidence: {sbom: [cj]}\n",
    "signer name used twice": (
        "version: 1\ntrust:\n  keys: {a: {path: a}}\n  identities: {a: {issuer: i, subject: s}}\n"
    ),
    "bad regexp": "version: 1\ntrust: {identities: {i: {issuer: a, subject-regexp: '(x'}}}\n",
    "from a missing environment": (
        "version: 1\nenvironments: {a: {repository: r/a}, b: {from: c, repository: r/b}}\n"
    ),
    "cycle": (
        "version: 1\nenvironments: {a: {from: b, repository: r/a}, b: {from: a, repository: r/b}}\n"
    ),
    "requirement nobody may sign": (
        "version: 1\nenvironments: {a: {repository: r/a, requires: [sbom]}}\n"
    ),
    "port out of range": "version: 1\nregistries: {insecure: ['r:70000']}\n",
}


def _schema_accepts(text: str) -> bool:
    validator = jsonschema.Draft202012Validator(schema())
    return validator.is_valid(yaml.safe_load(textwrap.dedent(text)))


def _loader_accepts(tmp_path: Path, text: str) -> bool:
    path = tmp_path / "mltoolkit.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_policy(path)
    except InputError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_documents_pass_both(tmp_path: Path, name: str) -> None:
    assert _schema_accepts(GOOD[name])
    assert _loader_accepts(tmp_path, GOOD[name])


@pytest.mark.parametrize("name", sorted(BAD_FOR_BOTH))
def test_bad_documents_fail_both(tmp_path: Path, name: str) -> None:
    assert not _schema_accepts(BAD_FOR_BOTH[name]), "the schema accepted it"
    assert not _loader_accepts(tmp_path, BAD_FOR_BOTH[name]), "the loader accepted it"


@pytest.mark.parametrize("name", sorted(BAD_FOR_LOADER_ONLY))
def test_cross_references_are_checked_by_the_loader(tmp_path: Path, name: str) -> None:
    text = BAD_FOR_LOADER_ONLY[name]
    if name != "duplicate key":  # safe_load keeps the last duplicate silently
        assert _schema_accepts(text), "the schema now checks this: move it to BAD_FOR_BOTH"
    assert not _loader_accepts(tmp_path, text)
