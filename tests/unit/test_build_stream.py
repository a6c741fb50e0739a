"""Following the classic builder's message stream (messages as Docker Engine 20.10 sends them)."""

from __future__ import annotations

import pytest

from mltoolkit.build.builder import BuildStream, StreamError, expand
from mltoolkit.build.push import is_transient

OK_STREAM = [
    {"stream": "Step 1/4 : ARG BASE=busybox:old"},
    {"stream": "\n"},
    {"stream": "Step 2/4 : FROM ${BASE} AS base\n"},
    {"stream": " ---> 0123456789ab\n"},
    {"stream": "Step 3/4 : RUN echo hi\n"},
    {"stream": " ---> Using cache\n ---> 1111111111aa\n"},
    {"stream": "Step 4/4 : FROM base\n ---> 1111111111aa\n"},
    {"aux": {"ID": "sha256:" + "f" * 64}},
    {"stream": "Successfully built ffffffffffff\n"},
    {"stream": "Successfully tagged 127.0.0.1:5000/m:latest\n"},
]


def test_a_successful_stream_gives_id_steps_cache_hits_and_base_images():
    lines: list[str] = []
    stream = BuildStream(build_args={"BASE": "busybox:local"})
    stream.follow(OK_STREAM, lines.append)
    assert stream.image_id == "sha256:" + "f" * 64
    assert (stream.steps, stream.cached) == (4, 1)
    # the build arg beats the ARG default; "FROM base" names a stage, not an image
    assert stream.bases == [("busybox:local", "0123456789ab")]
    assert "Step 3/4 : RUN echo hi" in lines
    assert lines[-1] == "Successfully tagged 127.0.0.1:5000/m:latest"


def test_the_arg_default_names_the_base_image_without_a_build_arg():
    stream = BuildStream()
    stream.follow(OK_STREAM, lambda _: None)
    assert stream.bases == [("busybox:old", "0123456789ab")]


def test_a_failing_step_raises_with_that_step_and_its_last_lines():
    chunks = [
        {"stream": "Step 1/2 : FROM busybox:local\n ---> 0123456789ab\n"},
        {"stream": "Step 2/2 : RUN for i in $(seq 1 30); do echo line$i; done; false\n"},
        {"stream": " ---> Running in 5555\n"},
        *({"stream": f"line{i}\n"} for i in range(1, 31)),
        {
            "errorDetail": {
                "code": 1,
                "message": "The command '/bin/sh -c false' returned a non-zero code: 1",
            },
            "error": "The command '/bin/sh -c false' returned a non-zero code: 1",
        },
    ]
    stream = BuildStream()
    with pytest.raises(StreamError, match="returned a non-zero code: 1"):
        stream.follow(chunks, lambda _: None)
    assert stream.step is not None and stream.step.startswith("Step 2/2 : RUN")
    assert list(stream.step_lines)[-1] == "line30"
    assert len(stream.step_lines) == 20


def test_a_partial_line_before_an_error_is_kept():
    stream = BuildStream()
    with pytest.raises(StreamError, match="boom"):
        stream.follow(
            [{"stream": "Step 1/1 : RUN x\nno newline"}, {"error": "boom"}], lambda _: None
        )
    assert list(stream.step_lines) == ["no newline"]


def test_pull_status_messages_are_logged():
    lines: list[str] = []
    BuildStream().follow([{"status": "Pulling from library/x", "id": "latest"}], lines.append)
    assert lines == ["latest Pulling from library/x"]


def test_expand_leaves_unknown_variables_as_written():
    assert expand("${A}/$B:${C}", {"A": "reg", "B": "img"}) == "reg/img:${C}"


@pytest.mark.parametrize(
    "message",
    [
        'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
        "received unexpected HTTP status: 500 Internal Server Error",
        "received unexpected HTTP status: 503 Service Unavailable",
        "read tcp 127.0.0.1:40000->127.0.0.1:5000: read: connection reset by peer",
        "net/http: TLS handshake timeout",
        "toomanyrequests: too many requests (429)",
    ],
)
def test_transient_push_errors_are_retried(message):
    assert is_transient(message)


@pytest.mark.parametrize(
    "message",
    [
        "unauthorized: authentication required",
        "denied: requested access to the resource is denied",
        "received unexpected HTTP status: 403 Forbidden",
        "received unexpected HTTP status: 404 Not Found",
        "An image does not exist locally with the tag: 127.0.0.1:5000/m",
        "name unknown: repository name not known to registry",
        "unauthorized: token expired after i/o timeout",
    ],
)
def test_auth_and_other_4xx_push_errors_are_not_retried(message):
    assert not is_transient(message)
