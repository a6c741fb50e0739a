"""Static checks over the CI definitions: zizmor, actionlint, the published JSON schemas, pins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_harness import FIXTURES, ROOT, tool

pytestmark = pytest.mark.e2e

ACTION_FILES = sorted([ROOT / "action.yml", *ROOT.glob("actions/*/action.yml")])
USER_WORKFLOWS = [FIXTURES / "github" / "build.yml", FIXTURES / "github" / "consumer.yml"]
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *USER_WORKFLOWS])
TEMPLATES = sorted(ROOT.glob("gitlab-templates/*.yml"))
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_definitions_exist() -> None:
    assert ACTION_FILES and TEMPLATES
    assert (ROOT / "actions" / "build" / "action.yml") in ACTION_FILES


def test_zizmor_pedantic_finds_nothing() -> None:
    paths = [str(p.relative_to(ROOT)) for p in ACTION_FILES]
    if (ROOT / ".github" / "workflows").is_dir():
        paths.append(".github/workflows")
    done = _check([tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", *paths])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_shellcheck_passes_the_setup_scripts() -> None:
    scripts = [ROOT / "actions" / "lib" / "setup-mltoolkit", ROOT / "scripts" / "lock-requirements"]
    done = _check([tool("shellcheck"), *map(str, scripts)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes_the_workflows() -> None:
    done = _check([tool("actionlint"), *map(str, WORKFLOWS)])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-actions", ACTION_FILES),
        ("vendor.github-workflows", WORKFLOWS),
    ],
)
def test_github_files_match_the_published_schema(schema: str, files: list[Path]) -> None:
    done = _check([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)])
    assert done.returncode == 0, done.stdout + done.stderr


def _split_template(template: Path, into: Path) -> list[Path]:
    # A template is two YAML documents: the `spec:` header and the jobs; each is checked alone.
    docs = list(yaml.safe_load_all(template.read_text()))
    assert len(docs) == 2 and set(docs[0]) == {"spec"}, f"{template.name}: spec + jobs expected"
    paths = []
    for index, doc in enumerate(docs):
        path = into / f"{template.stem}.{index}.yml"
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    return paths


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_gitlab_templates_match_the_published_schema(template: Path, tmp_path: Path) -> None:
    parts = _split_template(template, tmp_path)
    done = _check(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", *map(str, parts)]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_gitlab_schema_check_rejects_a_bad_spec(tmp_path: Path) -> None:
    # Proves the split check above looks at the header: an unknown input type must fail.
    bad = tmp_path / "bad.yml"
    bad.write_text("spec:\n  inputs:\n    x:\n      type: colour\n---\njob:\n  script: [true]\n")
    parts = _split_template(bad, tmp_path)
    done = _check([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(parts[0])])
    assert done.returncode != 0


def _uses(doc: object) -> list[str]:
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "uses" and isinstance(value, str):
                found.append(value)
            found += _uses(value)
    elif isinstance(doc, list):
        for item in doc:
            found += _uses(item)
    return found


@pytest.mark.parametrize("path", [*ACTION_FILES, *WORKFLOWS], ids=lambda p: p.name)
def test_every_remote_uses_is_pinned_to_a_full_sha_with_a_version_comment(path: Path) -> None:
    text = path.read_text()
    for ref in _uses(yaml.safe_load(text)):
        if ref.startswith("./"):
            continue
        assert _PINNED.match(ref), f"{path.name}: {ref} is not pinned to a 40-character SHA"
        assert re.search(rf"{re.escape(ref)}\s+#\s*v\d", text), f"{path.name}: {ref} lacks # vX"


def _steps(doc: dict[str, object]) -> list[dict[str, object]]:
    runs = doc.get("runs")
    steps = runs.get("steps", []) if isinstance(runs, dict) else []
    return [s for s in steps if isinstance(s, dict)]


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_action_scripts_never_interpolate_expressions(path: Path) -> None:
    for step in _steps(yaml.safe_load(path.read_text())):
        script = step.get("run")
        if isinstance(script, str):
            assert "${{" not in script, f"{path}: an expression inside run: (pass it via env:)"
            assert str(step.get("shell", "")).startswith("bash -eEuo pipefail")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_keep_inputs_out_of_scripts_and_global_keywords(template: Path) -> None:
    spec, jobs = yaml.safe_load_all(template.read_text())
    assert "job-prefix" in spec["spec"]["inputs"] and "stage" in spec["spec"]["inputs"]
    global_keywords = {"default", "image", "variables", "services", "before_script", "cache"}
    assert not global_keywords & set(jobs), f"{template.name}: global keywords"
    for name, job in jobs.items():
        assert name.startswith("$[[ inputs.job-prefix ]]"), f"{name}: not prefixed"
        for key in ("before_script", "script", "after_script"):
            for line in job.get(key, []):
                assert "$[[" not in line, f"{name}.{key}: input interpolated into a script"
