"""Finding trivy: MLTOOLKIT_TRIVY, PATH, the venv; a missing or old binary is exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mltoolkit.errors import ExitCode, ExternalError
from mltoolkit.scan.trivy import find_trivy, locate_trivy, run_trivy, start_trivy, wait_for_exit


def _fake_trivy(tmp_path: Path, version: str, body: str = "") -> Path:
    """A fake trivy (a shell script): only the version check and exit paths are exercised."""
    script = tmp_path / "trivy"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo \'{{"Version":"{version}"}}\'; exit 0; fi\n'
        f"{body}\n"
    )
    script.chmod(0o755)
    return script


def test_missing_binary_is_exit_3_with_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ExternalError) as caught:
        locate_trivy({"MLTOOLKIT_TRIVY": str(tmp_path / "nope")})
    assert caught.value.exit_code == ExitCode.EXTERNAL
    assert "scripts/install-trivy" in caught.value.diagnostics()


def test_not_on_path_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(ExternalError, match="trivy was not found"):
        locate_trivy({"PATH": str(tmp_path)})


def test_path_and_env_are_searched_in_order(tmp_path: Path) -> None:
    on_path = _fake_trivy(tmp_path, "0.76.0")
    assert locate_trivy({"PATH": str(tmp_path)}) == on_path
    other = tmp_path / "other"
    other.mkdir()
    chosen = _fake_trivy(other, "0.76.0")
    assert locate_trivy({"PATH": str(tmp_path), "MLTOOLKIT_TRIVY": str(chosen)}) == chosen


def test_old_trivy_is_refused_and_the_version_is_cached(tmp_path: Path) -> None:
    old = _fake_trivy(tmp_path, "0.40.1")
    with pytest.raises(ExternalError, match=r"trivy 0\.40\.1 is older"):
        find_trivy(environ={"MLTOOLKIT_TRIVY": str(old)})
    new = _fake_trivy(tmp_path, "0.76.0")
    cache = tmp_path / "cache"
    assert find_trivy(cache, environ={"MLTOOLKIT_TRIVY": str(new)}).version == "0.76.0"
    assert (cache / "mltoolkit-trivy.json").is_file()
    # A changed binary is asked again, not trusted from the cache.
    _fake_trivy(tmp_path, "0.30.0")
    os.utime(new, ns=(1, 1))
    with pytest.raises(ExternalError, match="older"):
        find_trivy(cache, environ={"MLTOOLKIT_TRIVY": str(new)})


def test_trivy_failure_names_its_fatal_line(tmp_path: Path) -> None:
    fake = _fake_trivy(
        tmp_path, "0.76.0", "echo 'INFO fine' >&2; echo 'FATAL image not found' >&2; exit 1"
    )
    trivy = find_trivy(environ={"MLTOOLKIT_TRIVY": str(fake)})
    with pytest.raises(ExternalError, match=r"exit 1.*FATAL image not found"):
        run_trivy(trivy, ["image", "x"])


def test_trivy_timeout_is_exit_3(tmp_path: Path) -> None:
    fake = _fake_trivy(tmp_path, "0.76.0", "sleep 5")
    trivy = find_trivy(environ={"MLTOOLKIT_TRIVY": str(fake)})
    with pytest.raises(ExternalError, match=r"did not finish within 0\.5 s"):
        run_trivy(trivy, ["image", "x"], timeout=0.5)


def test_cancel_kills_a_running_trivy(tmp_path: Path) -> None:
    fake = _fake_trivy(tmp_path, "0.76.0", "exec sleep 30")
    run = start_trivy(find_trivy(environ={"MLTOOLKIT_TRIVY": str(fake)}), ["image", "x"])
    assert run.returncode is None
    run.cancel()
    assert run.returncode == -9


def test_trivy_fatal_error_keeps_its_detail_lines_and_gets_a_hint(tmp_path: Path) -> None:
    log = tmp_path / "stderr.txt"
    log.write_text(
        "2026-11-27T01:57:31Z\tINFO\t[vulndb] Need to update DB\n"
        "2026-11-27T01:57:31Z\tFATAL\tFatal error\trun error: init error: DB error: "
        "failed to download vulnerability DB: 1 error occurred:\n"
        '\t* Get "http://127.0.0.1:1/v2/": connection refused\n'
    )
    fake = _fake_trivy(tmp_path, "0.76.0", f"cat {log} >&2; exit 1")
    trivy = find_trivy(environ={"MLTOOLKIT_TRIVY": str(fake)})
    with pytest.raises(ExternalError) as caught:
        run_trivy(trivy, ["image", "reg/app@sha256:00"])
    text = caught.value.diagnostics()
    assert text.startswith("reg/app@sha256:00: trivy failed (exit 1): run error: init error")
    assert "connection refused" in text and "INFO" not in text
    assert "--db-repository" in text


def test_version_cache_is_keyed_on_the_binary_path(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _fake_trivy(tmp_path, "0.76.0")
    assert find_trivy(cache, environ={"MLTOOLKIT_TRIVY": str(first)}).version == "0.76.0"
    other = tmp_path / "other"
    other.mkdir()
    second = _fake_trivy(other, "0.40.0")
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))
    # Same size and mtime, another path: asked, not taken from the first binary's note.
    with pytest.raises(ExternalError, match=r"trivy 0\.40\.0 is older"):
        find_trivy(cache, environ={"MLTOOLKIT_TRIVY": str(second)})


def test_a_corrupt_version_cache_is_asked_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mltoolkit-trivy.json").write_text("{not json")
    fake = _fake_trivy(tmp_path, "0.76.0")
    assert find_trivy(cache, environ={"MLTOOLKIT_TRIVY": str(fake)}).version == "0.76.0"
    assert "0.76.0" in (cache / "mltoolkit-trivy.json").read_text()


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling-fallback"])
def test_wait_for_exit_returns_the_code_or_times_out(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfd:

        def no_pidfd(pid: int, flags: int = 0) -> int:
            raise OSError("pidfd_open refused (as on an old kernel)")

        monkeypatch.setattr(os, "pidfd_open", no_pidfd, raising=False)
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert wait_for_exit(done, 30) == 7
    assert wait_for_exit(done, 30) == 7  # already reaped: the code again
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_for_exit(sleeper, 0.2)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
