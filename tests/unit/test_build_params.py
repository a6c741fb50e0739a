"""Command-line inputs of ``mltoolkit build``: KEY=VALUE pairs and the checked request."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltoolkit.build.params import parse_build_args, parse_labels
from mltoolkit.build.request import make_request
from mltoolkit.errors import InputError


def test_build_args_split_on_the_first_equals_and_keep_empty_values():
    assert parse_build_args(["A=1", "B=x=y", "C=", "A=2"]) == {"A": "2", "B": "x=y", "C": ""}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("NOEQUALS", "has no '='"),
        ("=1", "invalid key ''"),
        ("1A=1", "invalid key '1A'"),
        ("A B=1", "invalid key 'A B'"),
        ("A-B=1", "invalid key 'A-B'"),
    ],
)
def test_bad_build_args_are_input_errors(value, message):
    with pytest.raises(InputError, match=message) as info:
        parse_build_args([value])
    assert info.value.where == "--build-arg"
    assert info.value.exit_code == 2


def test_labels_accept_reverse_dns_keys_and_refuse_spaces():
    assert parse_labels(["org.example.team=ml", "com.x/y=1"]) == {
        "org.example.team": "ml",
        "com.x/y": "1",
    }
    with pytest.raises(InputError, match="invalid key"):
        parse_labels(["bad key=1"])
    with pytest.raises(InputError, match="has no '='"):
        parse_labels(["org.example.team"])


def _request(tmp_path: Path, **overrides):
    options = {
        "context": tmp_path,
        "dockerfile": None,
        "image": "127.0.0.1:5000/team/model",
        "tags": (),
        "build_args": (),
        "labels": (),
        "push": False,
        "provenance": None,
    }
    options.update(overrides)
    return make_request(**options)


def test_request_defaults_to_context_dockerfile_and_latest(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    request = _request(tmp_path)
    assert request.dockerfile == tmp_path / "Dockerfile"
    assert request.dockerfile_for_engine == "Dockerfile"
    assert request.tags == ("latest",)
    assert str(request.image) == "127.0.0.1:5000/team/model"


def test_a_tag_in_image_is_the_first_tag_and_duplicates_are_dropped(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    request = _request(tmp_path, image="127.0.0.1:5000/m:1.0", tags=("extra", "1.0"))
    assert request.tags == ("1.0", "extra")
    assert request.image.tag is None


def test_dockerfile_outside_the_context_is_passed_as_an_absolute_path(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    dockerfile = tmp_path / "build.Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    request = _request(context, dockerfile=dockerfile)
    assert request.dockerfile_for_engine == str(dockerfile.resolve())


def test_missing_context_and_missing_dockerfile_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist") as info:
        _request(tmp_path / "nope")
    assert info.value.where == "--context"
    with pytest.raises(InputError, match=r"Dockerfile .* does not exist") as info:
        _request(tmp_path)
    assert info.value.where == "--file"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a directory"):
        _request(tmp_path / "file")


def test_image_pinned_to_a_digest_or_with_a_bad_tag_is_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(InputError, match="names a digest"):
        _request(tmp_path, image="127.0.0.1:5000/m@sha256:" + "a" * 64)
    with pytest.raises(InputError, match="invalid tag"):
        _request(tmp_path, tags=("-bad",))


def test_flag_syntax_is_checked_before_the_filesystem(tmp_path):
    with pytest.raises(InputError, match="--build-arg"):
        _request(tmp_path / "nope", build_args=("X",))
