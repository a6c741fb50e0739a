"""The streamed build context is the tar the Docker SDK would have sent, byte for byte."""

from __future__ import annotations

import os
import tarfile
from io import BytesIO
from pathlib import Path

from docker.utils.build import tar

from mltoolkit.build.context_stream import CHUNK, ContextStream, dockerignore_patterns


def _context(root: Path) -> Path:
    context = root / "context"
    (context / "pkg" / "cache").mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (context / "pkg" / "model.bin").write_bytes(os.urandom(3 * CHUNK + 123))
    (context / "pkg" / "cache" / "junk").write_text("left out\n")
    (context / "secret.txt").write_text("left out\n")
    (context / ".dockerignore").write_text("# comment\n\nsecret.txt\n  pkg/cache  \n")
    return context


def test_the_stream_is_the_sdks_tar_and_honours_dockerignore(tmp_path: Path) -> None:
    context = _context(tmp_path)
    with ContextStream(context, "Dockerfile") as body:
        streamed = b"".join(body.chunks())
        body.check()
    assert body.dockerfile == "Dockerfile"
    with tar(
        str(context), exclude=dockerignore_patterns(context), dockerfile=("Dockerfile", None)
    ) as expected:
        assert streamed == expected.read()
    with tarfile.open(fileobj=BytesIO(streamed)) as archive:
        names = archive.getnames()
    assert "pkg/model.bin" in names
    assert "secret.txt" not in names
    assert not [n for n in names if n.startswith("pkg/cache")]


def test_a_dockerfile_outside_the_context_travels_inside_the_tar(tmp_path: Path) -> None:
    context = _context(tmp_path)
    outside = tmp_path / "build.Dockerfile"
    outside.write_text("FROM scratch\nCOPY pkg /pkg\n")
    with ContextStream(context, str(outside)) as body:
        streamed = b"".join(body.chunks())
        body.check()
    assert body.dockerfile.startswith(".dockerfile.")
    with tarfile.open(fileobj=BytesIO(streamed)) as archive:
        member = archive.extractfile(body.dockerfile)
        assert member is not None and member.read() == outside.read_bytes()


def test_leaving_early_stops_the_writer(tmp_path: Path) -> None:
    context = _context(tmp_path)
    with ContextStream(context, "Dockerfile") as body:
        first = next(body.chunks())
    assert len(first) == CHUNK
    assert not body._thread.is_alive()
    body.check()  # a reader that stopped is not an unreadable context


def test_no_dockerignore_means_no_patterns(tmp_path: Path) -> None:
    assert dockerignore_patterns(tmp_path) is None
