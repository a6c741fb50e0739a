"""``mltoolkit validate-data`` on files (pandas): the gate, exit codes, and every report.

The CLI runs in this process (GX is imported once for the module), on data the tests write.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mltoolkit.cli import main as cli_main
from mltoolkit.data.docs import asset_urls

SUITES = Path(__file__).parents[1] / "data" / "suites"
BAD = SUITES / "bad"


def transactions(rows: int) -> dict[str, list[object]]:
    """Deterministic transactions: amounts 0.5..999.5, currencies EUR/USD/GBP, 5% fraud."""
    return {
        "id": list(range(1, rows + 1)),
        "amount": [(i * 37 % 1000) + 0.5 for i in range(1, rows + 1)],
        "currency": [("EUR", "USD", "GBP")[i % 3] for i in range(1, rows + 1)],
        "merchant": [f"m{i % 50}" for i in range(1, rows + 1)],
        "is_fraud": [int(i % 20 == 0) for i in range(1, rows + 1)],
    }


@pytest.fixture
def data_files(tmp_path: Path) -> dict[str, Path]:
    import pandas as pd

    frame = pd.DataFrame(transactions(400))
    csv = tmp_path / "tx.csv"
    parquet = tmp_path / "tx.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    return {"csv": csv, "parquet": parquet}


@pytest.fixture(autouse=True)
def _local_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "local")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        cli_main.main(["validate-data", *args])
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_passing_suite_exits_0(
    kind: str, data_files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    code, out, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions.yaml"),
        "--data",
        str(data_files[kind]),
        "--json",
        str(report),
    )
    assert code == 0, err
    assert out.startswith("validate-data PASS: suite 'transactions'")
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "pass"
    assert [r["index"] for r in doc["results"]] == list(range(8))
    assert [r["type"] for r in doc["results"]][:3] == [
        "expect_table_row_count_to_be_between",
        "expect_table_columns_to_match_set",
        "expect_column_values_to_not_be_null",
    ]
    assert doc["statistics"]["evaluated"] == 8
    assert doc["statistics"]["passed"] == 8
    assert doc["results"][0]["observed_value"] == 400
    assert doc["results"][7]["observed_value"] == pytest.approx(0.05)
    assert type(doc["results"][7]["observed_value"]) is float
    fingerprint = doc["fingerprint"]
    assert fingerprint["sha256"] == hashlib.sha256(data_files[kind].read_bytes()).hexdigest()
    assert fingerprint["row_count"] == 400
    assert (
        doc["suite"]["sha256"]
        == hashlib.sha256((SUITES / "transactions.yaml").read_bytes()).hexdigest()
    )


def test_failing_suite_exits_1_naming_the_expectation_and_observed_value(
    data_files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    report = tmp_path / "r.json"
    code, out, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions_strict.yaml"),
        "--data",
        str(data_files["csv"]),
        "--junit",
        str(junit),
        "--json",
        str(report),
    )
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert "2 critical expectation(s) failed" in last
    assert "expect_column_values_to_be_between(amount) at line 6" in last
    # amounts above 500: (i*37 % 1000) + 0.5 > 500 for 205 of the 400 rows
    assert "205 unexpected of 400 (51.25%)" in last
    assert "Traceback" not in err
    assert "FAIL expect_column_values_to_be_in_set(currency) (line 8): 133 unexpected" in out
    assert "e.g. 'GBP'" in out
    assert "warn expect_table_row_count_to_be_between (line 10): 400" in out

    doc = json.loads(report.read_text())
    assert doc["verdict"] == "fail"
    statuses = [(r["type"], r["status"], r["severity"]) for r in doc["results"]]
    assert statuses == [
        ("expect_column_values_to_not_be_null", "passed", "critical"),
        ("expect_column_values_to_be_between", "failed", "critical"),
        ("expect_column_values_to_be_in_set", "failed", "critical"),
        ("expect_table_row_count_to_be_between", "failed", "warning"),
    ]
    assert doc["results"][2]["unexpected_examples"][:3] == ["GBP", "GBP", "GBP"]
    assert doc["statistics"]["failed_critical"] == 2
    assert doc["statistics"]["failed_warning"] == 1

    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "[0] expect_column_values_to_not_be_null(id)",
        "[1] expect_column_values_to_be_between(amount)",
        "[2] expect_column_values_to_be_in_set(currency)",
        "[3] expect_table_row_count_to_be_between",
    ]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "205 unexpected of 400 (51.25%)"
    assert cases[0].find("failure") is None
    assert cases[3].find("failure") is None  # a warning does not fail the report
    out_node = cases[3].find("system-out")
    assert out_node is not None
    assert "warning" in (out_node.text or "")


@pytest.mark.parametrize(
    ("suite", "needle"),
    [
        ("unknown_type.yaml", "unknown_type.yaml:5: expectations[1].type: unknown expectation"),
        ("unknown_kwarg.yaml", "unknown_kwarg.yaml:7: expectations[0].kwargs.max_val:"),
        ("missing_kwarg.yaml", "missing_kwarg.yaml:4: expectations[0].kwargs:"),
        ("bad_value.yaml", "bad_value.yaml:6: expectations[0].kwargs.min_value:"),
        ("duplicate.yaml", "duplicate.yaml:7: expectations[2]: duplicate expectation"),
        ("severity.yaml", "severity.yaml:5: expectations[0].severity:"),
        ("missing_column.yaml", "missing_column.yaml:6: expect_column_values_to_not_be_null"),
    ],
)
def test_bad_suite_exits_2_with_one_line(
    suite: str, needle: str, data_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--suite", str(BAD / suite), "--data", str(data_files["csv"]))
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert out == ""


def test_bad_data_exits_2(
    tmp_path: Path, data_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    suite = str(SUITES / "transactions.yaml")
    code, _, err = run(capsys, "--suite", suite, "--data", str(tmp_path / "missing.csv"))
    assert code == 2
    assert "missing.csv: data file not found" in err
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet")
    code, _, err = run(capsys, "--suite", suite, "--data", str(garbage))
    assert code == 2
    assert "cannot read the data as parquet" in err
    assert len([x for x in err.splitlines() if x.startswith("error:")]) == 1
    code, _, err = run(capsys, "--suite", suite, "--data", str(tmp_path / "x.json"))
    assert code == 2
    code, _, err = run(capsys, "--suite", suite, "--data", "postgresql://u:secret@db/x?table=t")
    assert code == 2
    assert "PGPASSWORD" in err
    assert "secret" not in err


def test_github_summary_lists_failures_first(
    data_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = tmp_path / "summary.md"
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "github")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, _, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions_strict.yaml"),
        "--data",
        str(data_files["parquet"]),
    )
    assert code == 1
    text = summary.read_text()
    assert text.startswith("### ❌ Data validation FAIL: `transactions-strict`")
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert "expect_column_values_to_be_between(amount)" in rows[0]
    assert "205 unexpected of 400 (51.25%)" in rows[0]
    assert "expect_column_values_to_be_in_set(currency)" in rows[1]
    assert "'GBP'" in rows[1]
    assert "⚠️" in rows[2]
    assert "✅" in rows[3]
    assert "verdict<<" in outputs.read_text()
    assert "::error file=" in err


def test_data_docs_render_offline(
    data_files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    code, _, err = run(
        capsys,
        "--suite",
        str(SUITES / "transactions_strict.yaml"),
        "--data",
        str(data_files["csv"]),
        "--docs",
        str(docs),
    )
    assert code == 1, err
    html = (docs / "index.html").read_text()
    assert "expect_column_values_to_be_between" in html or "values must be" in html
    urls = asset_urls(html)
    assert urls, "the page loads no assets at all"
    remote = [u for u in urls if re.match(r"(?i)(https?:)?//", u)]
    assert remote == []
    for url in urls:
        assert (docs / url.split("?")[0]).is_file(), url
    css = (docs / "static/vendor/css/fontawesome-all.min.css").read_text()
    fonts = set(re.findall(r"url\(\.\./webfonts/([^)]+\.woff2)\)", css))
    assert fonts
    for font in fonts:
        assert (docs / "static/vendor/webfonts" / font).is_file()


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless chromium installed")
def test_data_docs_render_in_a_headless_browser(
    data_files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    run(
        capsys,
        "--suite",
        str(SUITES / "transactions.yaml"),
        "--data",
        str(data_files["csv"]),
        "--docs",
        str(docs),
    )
    page = docs / "index.html"
    dom = subprocess.run(
        [
            str(_browser()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # Every host name fails to resolve: only the files beside the page can load.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # jQuery and bootstrap-table loaded from static/ and rebuilt the result tables.
    marker = 'class="bootstrap-table bootstrap4"'
    assert marker not in page.read_text()
    assert marker in dom
