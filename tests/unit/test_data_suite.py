"""Suite files: every mistake is refused before GX runs, with file, line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltoolkit.data.catalog import check_suite, columns_needed, named_columns, require_columns
from mltoolkit.data.suite import read_suite
from mltoolkit.errors import ExitCode, InputError

SUITES = Path(__file__).parents[1] / "data" / "suites"
BAD = SUITES / "bad"


def load(path: Path) -> None:
    check_suite(read_suite(path))


def test_the_shared_suite_is_valid_and_keeps_file_order() -> None:
    suite = read_suite(SUITES / "transactions.yaml")
    check_suite(suite)
    assert suite.name == "transactions"
    assert [e.index for e in suite.expectations] == list(range(8))
    assert suite.expectations[0].type == "expect_table_row_count_to_be_between"
    last = suite.expectations[-1]
    assert last.severity == "warning"
    assert last.meta == {"why": "fraud rate drifts; a person looks"}
    assert last.line == 22
    assert suite.expectations[1].severity == "critical"
    assert len(suite.sha256) == 64


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        (
            "unknown_type.yaml",
            5,
            "unknown expectation type 'expect_column_values_to_be_postive'",
        ),
        ("unknown_kwarg.yaml", 7, "has no kwarg 'max_val'"),
        ("missing_kwarg.yaml", 4, "needs kwarg 'value_set'"),
        ("bad_value.yaml", 6, "'zero' is not a valid min_value"),
        ("duplicate.yaml", 7, "duplicate expectation"),
        ("severity.yaml", 5, "must be one of critical, warning, not 'fatal'"),
        ("meta_in_kwargs.yaml", 6, "has no kwarg 'severity'"),
        ("no_expectations.yaml", 2, "must list at least 1 item"),
    ],
)
def test_bad_suites_name_file_line_and_mistake(name: str, line: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load(BAD / name)
    text = caught.value.diagnostics()
    assert caught.value.exit_code == ExitCode.USAGE
    assert text.startswith(f"{BAD / name}:{line}: "), text
    assert message in text


def test_unknown_type_suggests_the_close_name() -> None:
    with pytest.raises(InputError, match="did you mean 'expect_column_values_to_be_in_set'"):
        load(_write_suite("expect_column_values_to_be_in_sett", "{column: a, value_set: [1]}"))


def test_duplicate_names_the_first_line() -> None:
    with pytest.raises(InputError, match="already at line 3"):
        load(BAD / "duplicate.yaml")


def test_meta_in_kwargs_says_where_it_goes() -> None:
    with pytest.raises(InputError, match="put severity beside kwargs"):
        load(BAD / "meta_in_kwargs.yaml")


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="suite file not found"):
        read_suite(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="the suite is empty"):
        read_suite(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nexpectations:\n  - type: [\n")
    with pytest.raises(InputError, match=r"broken\.yaml:\d+: invalid YAML"):
        read_suite(broken)


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nexpectation:\n  - type: expect_column_to_exist\n")
    with pytest.raises(InputError, match=r"s\.yaml:2: expectation: unknown key.*'expectations'"):
        read_suite(path)


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: x\nexpectations:\n  - type: expect_column_to_exist\n"
        "    kwargs: {column: !!python/object/apply:os.system [echo hi]}\n"
    )
    with pytest.raises(InputError, match=r"s\.yaml:4"):
        read_suite(path)


def test_columns_the_suite_names_must_exist() -> None:
    suite = read_suite(BAD / "missing_column.yaml")
    check_suite(suite)
    with pytest.raises(InputError) as caught:
        require_columns(suite, ["id", "amount", "currency"], "data.csv")
    text = caught.value.diagnostics()
    assert text.startswith("data.csv: ")
    assert f"{BAD / 'missing_column.yaml'}:6:" in text
    assert "'amuont'" in text
    assert "did you mean 'amount'?" in text


def test_table_level_expectations_do_not_require_columns() -> None:
    suite = read_suite(SUITES / "transactions.yaml")
    table_checks = [e for e in suite.expectations if e.type.startswith("expect_table_")]
    assert table_checks
    assert all(named_columns(e) == [] for e in table_checks)
    assert named_columns(suite.expectations[2]) == [("id", 11)]


_COUNTER = iter(range(1000))


def _write_suite(type_name: str, kwargs: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="suite-"))
    path = folder / f"s{next(_COUNTER)}.yaml"
    path.write_text(f"name: x\nexpectations:\n  - type: {type_name}\n    kwargs: {kwargs}\n")
    return path


def test_only_the_columns_the_suite_reads_are_loaded_unless_it_checks_the_table() -> None:
    strict = read_suite(SUITES / "transactions_strict.yaml")
    assert columns_needed(strict) == ["id", "amount", "currency"]
    # expect_table_columns_to_match_set needs every column of the data.
    assert columns_needed(read_suite(SUITES / "transactions.yaml")) is None
