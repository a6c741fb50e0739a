"""The build context as a stream: the tar is written while the engine already reads it.

The Docker SDK's ``api.build(path=...)`` first writes the whole context into a temporary tar
file and only then sends it; on a context of a few hundred MB that is a second of waiting
before the engine sees the first byte. Here the SDK's own ``docker.utils.build.tar`` (the same
``.dockerignore`` rules and Dockerfile handling) writes into a pipe from a thread, and the
request body is read from the other end, so making and sending the tar overlap, the way the
``docker build`` CLI streams it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from mltoolkit.errors import InputError

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20


class _PipeWriter:
    """The write end of a pipe as ``tarfile`` and ``create_archive`` use a file.

    tarfile asks for the position once; ``create_archive`` rewinds at the end, which a pipe
    cannot and a stream does not need.
    """

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb")
        self._position = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._position

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._file.close()


def dockerignore_patterns(context: Path) -> list[str] | None:
    """The context's ``.dockerignore`` patterns (None when it has none), read as the SDK reads
    them: one per line, blank lines and ``#`` comments skipped."""
    path = context / ".dockerignore"
    if not path.exists():
        return None
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class ContextStream:
    """A thread tars ``context`` into a pipe; ``chunks()`` is the request body.

    Use it as a context manager: leaving it closes the reading end (a writer stuck on a
    request that failed then stops) and waits for the thread. ``dockerfile`` is the name to
    send the engine (the SDK adds a Dockerfile from outside the context to the tar).
    """

    def __init__(self, context: Path, dockerfile: str) -> None:
        from docker.api.build import process_dockerfile

        self.context = context
        self._dockerfile = process_dockerfile(dockerfile, str(context))
        self.dockerfile: str = self._dockerfile[0]
        self._exclude = dockerignore_patterns(context)
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(AttributeError, OSError):  # a larger pipe: fewer wake-ups
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._reader = os.fdopen(read_fd, "rb")
        self._writer = _PipeWriter(write_fd)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._write, name="build-context", daemon=True)

    def _write(self) -> None:
        from docker.utils.build import tar

        try:
            tar(
                str(self.context),
                exclude=self._exclude,
                dockerfile=self._dockerfile,
                fileobj=self._writer,
            )
        except Exception as exc:  # raised again in the caller's thread by check()
            if not _broken_pipe(exc):  # else the reader stopped: the request failed, says why
                self._error = exc
        finally:
            self._writer.close()

    def chunks(self) -> Iterator[bytes]:
        """The tar, a chunk at a time, until the writer is done.

        A context that could not be read ends the body with an error instead of its last
        chunk, so the engine never builds from a partial tar.
        """
        while chunk := self._reader.read(CHUNK):
            yield chunk
        self._thread.join()
        if self._error is not None:
            raise ContextUnreadableError(str(self._error))

    def check(self) -> None:
        """Stop the writer and wait for it; InputError if the context could not be read."""
        self._reader.close()
        self._thread.join()
        if self._error is not None:
            raise InputError(
                f"cannot read the build context: {self._error}",
                where=str(self.context),
                fix="make every file of the context readable, or list it in .dockerignore",
            ) from self._error

    def __enter__(self) -> ContextStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.close()
        self._thread.join()


def _broken_pipe(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an exception it was raised from is a closed pipe (the SDK wraps it)."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class ContextUnreadableError(Exception):
    """Raised into the request body when the tar could not be written (see ``check``)."""
