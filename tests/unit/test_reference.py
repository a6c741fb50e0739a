"""Image references and digests parse and normalise the way Docker/distribution does."""

from __future__ import annotations

import hashlib

import pytest

from mltoolkit.errors import ExitCode, InputError
from mltoolkit.oci.reference import Digest, ImageRef, is_insecure, is_loopback

HEX = "a" * 64
DIGEST = f"sha256:{HEX}"

VALID = [
    # text, registry, repository, tag, digest, canonical
    ("busybox", "docker.io", "library/busybox", None, None, "docker.io/library/busybox"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None, None),
    ("library/busybox", "docker.io", "library/busybox", None, None, None),
    ("docker.io/busybox", "docker.io", "library/busybox", None, None, None),
    ("index.docker.io/busybox", "docker.io", "library/busybox", None, None, None),
    ("org/app", "docker.io", "org/app", None, None, "docker.io/org/app"),
    ("ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", None, None),
    ("ghcr.io/app", "ghcr.io", "app", None, None, None),
    ("localhost/app", "localhost", "app", None, None, None),
    ("localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", None, None),
    ("127.0.0.1:5000/ml/model", "127.0.0.1:5000", "ml/model", None, None, None),
    ("[::1]:5000/ml/model:x", "[::1]:5000", "ml/model", "x", None, None),
    ("Registry.Example.com/app", "Registry.Example.com", "app", None, None, None),
    (f"app@{DIGEST}", "docker.io", "library/app", None, DIGEST, f"docker.io/library/app@{DIGEST}"),
    (f"r.io/a/b:tag@{DIGEST}", "r.io", "a/b", "tag", DIGEST, f"r.io/a/b:tag@{DIGEST}"),
    ("r.io/a_b/c__d/e-f/g--h/i.j:_T-1.x", "r.io", "a_b/c__d/e-f/g--h/i.j", "_T-1.x", None, None),
    ("r.io/a:" + "t" * 128, "r.io", "a", "t" * 128, None, None),
    (f"r.io/a@sha512:{'b' * 128}", "r.io", "a", None, f"sha512:{'b' * 128}", None),
    (f"r.io/a@sha384:{'c' * 96}", "r.io", "a", None, f"sha384:{'c' * 96}", None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest", "canonical"), VALID)
def test_valid_references_parse_and_normalise(
    text: str,
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    canonical: str | None,
) -> None:
    ref = ImageRef.parse(text)
    assert ref.registry == registry
    assert ref.repository == repository
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest
    if canonical is not None:
        assert str(ref) == canonical
    # The canonical text parses back to the same reference.
    assert ImageRef.parse(str(ref)) == ref


INVALID = [
    # text, a fragment of the message
    ("", "empty"),
    ("   ", "empty"),
    ("r.io/App", "must be lowercase"),
    ("MyApp", "must be lowercase"),  # no domain: an uppercase single name is not a host
    ("r.io/a:-tag", "invalid tag"),
    ("r.io/a:.tag", "invalid tag"),
    ("r.io/a:" + "t" * 129, "invalid tag"),
    ("r.io/a:ta/g", "invalid repository component"),
    ("r.io/a:", "invalid tag"),
    ("r.io/-a", "invalid repository component"),
    ("r.io/a-", "invalid repository component"),
    ("r.io/a//b", "invalid repository component"),
    ("r.io/a..b", "invalid repository component"),
    ("r.io/a___b", "invalid repository component"),
    ("r.io/", "invalid repository component"),
    ("https://r.io/a", "URL scheme"),
    ("r_x.io/a", "invalid registry"),
    ("-r.io/a", "invalid registry"),
    (":tag", "no name"),
    ("a" * 64, "image ID"),
    ("r.io/" + "a" * 260, "longer than 255"),
    # digests
    (f"r.io/a@sha256:{'a' * 63}", "63 hex digits, sha256 needs 64"),
    (f"r.io/a@sha256:{'a' * 65}", "65 hex digits, sha256 needs 64"),
    (f"r.io/a@sha512:{'a' * 64}", "64 hex digits, sha512 needs 128"),
    (f"r.io/a@md5:{'a' * 32}", "unknown algorithm 'md5'"),
    (f"r.io/a@sha1:{'a' * 40}", "unknown algorithm 'sha1'"),
    (f"r.io/a@sha256:{'A' * 64}", "uppercase hex"),
    (f"r.io/a@sha256:{'g' * 64}", "not hex digits"),
    ("r.io/a@sha256:", "no hex"),
    ("r.io/a@sha256", "no ':'"),
    ("r.io/a@", "no ':'"),
    (f"r.io/a@:{HEX}", "malformed algorithm"),
    (f"r.io/a@SHA256:{HEX}", "malformed algorithm"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_references_raise_input_error_naming_reference(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as info:
        ImageRef.parse(text)
    assert info.value.exit_code == ExitCode.USAGE
    if text.strip():
        assert info.value.where == text
    assert "\n" not in info.value.diagnostics()


def test_digest_of_and_str_round_trip() -> None:
    data = b"hello"
    digest = Digest.of(data)
    assert str(digest) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert Digest.parse(str(digest)) == digest
    assert digest.tag_form == "sha256-" + hashlib.sha256(data).hexdigest()
    assert str(Digest.of(data, "sha512")).startswith("sha512:")
    with pytest.raises(InputError, match="unknown digest algorithm"):
        Digest.of(data, "md5")


def test_with_digest_with_tag_and_require_digest() -> None:
    ref = ImageRef.parse("127.0.0.1:5000/ml/model:v1")
    assert ref.name == "127.0.0.1:5000/ml/model"
    with pytest.raises(InputError, match="not pinned to a digest"):
        ref.require_digest()
    pinned = ref.with_digest(Digest.parse(DIGEST))
    assert pinned.require_digest() == Digest.parse(DIGEST)
    assert str(pinned) == f"127.0.0.1:5000/ml/model:v1@{DIGEST}"
    assert pinned.reference == DIGEST
    assert ref.reference == "v1"
    assert ImageRef.parse("r.io/a").reference == "latest"
    retagged = pinned.with_tag("v2")
    assert retagged.tag == "v2"
    assert retagged.digest is None
    with pytest.raises(InputError):
        ref.with_tag("bad tag")
    assert ref.with_repository("ml/other") == ImageRef("127.0.0.1:5000", "ml/other")
    assert pinned.repo_only() == ImageRef("127.0.0.1:5000", "ml/model")


def test_api_host_maps_docker_hub() -> None:
    assert ImageRef.parse("busybox").api_host == "registry-1.docker.io"
    assert ImageRef.parse("ghcr.io/a/b").api_host == "ghcr.io"
    assert ImageRef.parse("localhost:5000/a").api_host == "localhost:5000"


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("128.0.0.1:5000", False),
        ("10.0.0.1:5000", False),
        ("localhost.example.com", False),
        ("docker.io", False),
    ],
)
def test_loopback_registries(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback
    assert is_insecure(registry) is loopback


def test_other_registries_are_insecure_only_when_named() -> None:
    assert not is_insecure("reg.internal:5000")
    assert is_insecure("reg.internal:5000", ["reg.internal:5000"])
    assert is_insecure("reg.internal:5000", ["reg.internal"])  # no port: any port
    assert is_insecure("reg.internal:5000", ["http://REG.internal:5000/"])
    assert not is_insecure("reg.internal:5000", ["reg.internal:6000"])
    assert not is_insecure("reg.internal:5000", ["other.internal"])
    assert ImageRef.parse("reg.internal:5000/a").is_insecure(["reg.internal"])
