"""Turn a CI step's inputs into an mltoolkit command line, then run it.

The composite actions and the GitLab templates pass their inputs here only through environment
variables (``MLTOOLKIT_INPUT_<NAME>``), never by interpolating them into a shell script, so no
input value is ever parsed by a shell. Lists are split here: tags on whitespace with shell-like
quoting (``shlex``), build args and labels one ``KEY=VALUE`` per line, verbatim. A value that
would be read as an option is refused, so an input cannot add flags of its own.

Run with the Python of the environment the setup script made: ``python invoke.py build``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

PREFIX = "MLTOOLKIT_INPUT_"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class InputProblem(ValueError):
    """An input value this step cannot use; the message names the input and the fix."""


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(PREFIX + name.upper().replace("-", "_"), default).strip()


def _no_flag(name: str, value: str) -> str:
    if value.startswith("-"):
        raise InputProblem(
            f"input '{name}': '{value}' looks like an option; values may not start with '-'"
        )
    return value


def _words(env: Mapping[str, str], name: str) -> list[str]:
    try:
        words = shlex.split(_get(env, name), comments=False, posix=True)
    except ValueError as exc:
        raise InputProblem(f"input '{name}': {exc} (quote values with matching quotes)") from None
    return [_no_flag(name, w) for w in words]


def _pairs(env: Mapping[str, str], name: str) -> list[str]:
    pairs = []
    for number, line in enumerate(_get(env, name).splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        key, sep, _ = entry.partition("=")
        if not sep or not _KEY.match(key):
            raise InputProblem(f"input '{name}' line {number}: expected KEY=VALUE, got '{entry}'")
        pairs.append(entry)
    return pairs


def _no_credentials(name: str, url: str) -> None:
    # Refused before it reaches argv (and RUNNER_DEBUG's echo); the value is not repeated.
    if "@" in url or "token=" in url.lower():
        raise InputProblem(
            f"input '{name}' must not hold a token or user:password (inputs are not secret): "
            "put the token in the masked secret/variable SPARK_CONNECT_AUTHENTICATE_TOKEN"
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputProblem(f"input '{name}': expected true or false, got '{value}'")


def build_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit build`` arguments for the inputs in ``env``."""
    image = _no_flag("image", _get(env, "image"))
    if not image:
        raise InputProblem("input 'image' is required (a repository: registry.example.com/app)")
    context = _no_flag("context", _get(env, "context") or ".")
    argv = ["build", "--context", context, "--image", image]
    if dockerfile := _get(env, "file"):
        argv += ["--file", _no_flag("file", dockerfile)]
    for tag in _words(env, "tags"):
        argv += ["--tag", tag]
    for pair in _pairs(env, "build-args"):
        argv += ["--build-arg", pair]
    for pair in _pairs(env, "labels"):
        argv += ["--label", pair]
    if _flag(env, "push"):
        argv.append("--push")
    if provenance := _get(env, "provenance"):
        argv += ["--provenance", _no_flag("provenance", provenance)]
    return argv


def validate_data_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit validate-data`` arguments for the inputs in ``env``."""
    argv = ["validate-data"]
    for name in ("suite", "data"):
        value = _no_flag(name, _get(env, name))
        if not value:
            raise InputProblem(f"input '{name}' is required")
        argv += [f"--{name}", value]
    if _get(env, "spark-master") and _get(env, "spark-remote"):
        raise InputProblem("give the input 'spark-master' or 'spark-remote', not both")
    _no_credentials("spark-remote", _get(env, "spark-remote"))
    # `--json=FILE` as one word: a bare `--json` in argv also switches the CLI's error output.
    if (engine := _get(env, "engine")) and engine not in ("auto", "duckdb", "pandas"):
        raise InputProblem(f"input 'engine' must be auto, duckdb or pandas, not {engine!r}")
    for name in (
        "json",
        "junit",
        "docs",
        "engine",
        "spark-master",
        "spark-remote",
        "attest",
        "key",
    ):
        if value := _get(env, name):
            argv.append(f"--{name}={_no_flag(name, value)}")
    if _flag(env, "keyless"):
        argv.append("--keyless")
    return argv


def register_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit register`` arguments for the inputs in ``env``."""
    argv = ["register"]
    for name in ("name", "image"):
        value = _no_flag(name, _get(env, name))
        if not value:
            raise InputProblem(f"input '{name}' is required")
        argv += [f"--{name}", value]
    model_uri, run_id = _get(env, "model-uri"), _get(env, "run-id")
    if bool(model_uri) == bool(run_id):
        raise InputProblem("give exactly one of the inputs 'model-uri' and 'run-id'")
    if model_uri:
        argv += ["--model-uri", _no_flag("model-uri", model_uri)]
    else:
        argv += ["--run-id", _no_flag("run-id", run_id)]
        path = _get(env, "artifact-path") or "model"
        argv += ["--artifact-path", _no_flag("artifact-path", path)]
    for pair in _pairs(env, "metrics"):
        argv += ["--metric", pair]
    # `--opt=VALUE` as one word: a description may start with anything but '-'.
    for name in ("description", "key"):
        if value := _get(env, name):
            argv.append(f"--{name}={_no_flag(name, value)}")
    for key in _words(env, "evidence-keys"):
        argv += ["--evidence-key", key]
    return argv


def _required(env: Mapping[str, str], name: str) -> str:
    value = _no_flag(name, _get(env, name))
    if not value:
        raise InputProblem(f"input '{name}' is required")
    return value


def _version(env: Mapping[str, str]) -> str:
    version = _required(env, "version")
    if not version.isdigit():
        raise InputProblem(f"input 'version': expected a version number, got '{version}'")
    return version


def promote_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit promote`` arguments for the inputs in ``env``."""
    model, version = _required(env, "model"), _version(env)
    argv = ["promote", model, "--version", version, "--to", _required(env, "environment")]
    if _flag(env, "dry-run"):
        argv.append("--dry-run")
    elif key := _get(env, "key"):
        argv.append(f"--key={_no_flag('key', key)}")
    else:
        raise InputProblem("input 'key' is required unless 'dry-run' is true")
    if audit_log := _get(env, "audit-log"):
        argv.append(f"--audit-log={_no_flag('audit-log', audit_log)}")
    return argv


def approve_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit approve`` arguments for the inputs in ``env``."""
    model, version = _required(env, "model"), _version(env)
    argv = ["approve", model, "--version", version, "--env", _required(env, "environment")]
    key, keyless = _get(env, "key"), _flag(env, "keyless")
    if bool(key) == keyless:
        raise InputProblem("give exactly one of the inputs 'key' and 'keyless: true'")
    argv.append(f"--key={_no_flag('key', key)}" if key else "--keyless")
    if comment := _get(env, "comment"):
        argv.append(f"--comment={comment}")
    return argv


def _signer(env: Mapping[str, str], *, required: bool) -> list[str]:
    """``--key=REF`` or ``--keyless`` from the inputs ``key`` and ``keyless`` (never both)."""
    key, keyless = _get(env, "key"), _flag(env, "keyless")
    if key and keyless:
        raise InputProblem("give only one of the inputs 'key' and 'keyless: true'")
    if key:
        return [f"--key={_no_flag('key', key)}"]
    if keyless:
        return ["--keyless"]
    if required:
        raise InputProblem(
            "give one of the inputs 'key' (a key file or KMS URI) and 'keyless: true'"
        )
    return []


def _options(env: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    # `--opt=VALUE` as one word: a bare `--json` in argv also switches the CLI's error output.
    return [f"--{name}={_no_flag(name, value)}" for name in names if (value := _get(env, name))]


def sign_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit sign`` arguments for the inputs in ``env``."""
    argv = ["sign", _required(env, "image"), *_signer(env, required=True)]
    for pair in _pairs(env, "annotations"):
        argv.append(f"--annotation={pair}")
    return argv + _options(env, ("format",))


def verify_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit verify`` arguments for the inputs in ``env``."""
    argv = ["verify", _required(env, "image")]
    argv += [f"--key={key}" for key in _words(env, "keys")]
    identity = (
        "certificate-identity",
        "certificate-identity-regexp",
        "certificate-oidc-issuer",
        "certificate-oidc-issuer-regexp",
    )
    argv += _options(env, identity)
    if len(argv) == 2:
        raise InputProblem("give the input 'keys' or a keyless 'certificate-identity' (or -regexp)")
    argv += [f"--signed-identity={name}" for name in _words(env, "signed-identities")]
    return argv


def attest_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit attest`` arguments for the inputs in ``env``."""
    image, kind, predicate = (_required(env, n) for n in ("image", "type", "predicate"))
    argv = ["attest", image, f"--type={kind}", f"--predicate={predicate}"]
    return argv + _signer(env, required=True) + _options(env, ("format",))


def _attestation(env: Mapping[str, str]) -> list[str]:
    if not _flag(env, "attest"):
        if _get(env, "key") or _flag(env, "keyless"):
            raise InputProblem("the inputs 'key' and 'keyless' need 'attest: true'")
        return []
    return ["--attest", *_signer(env, required=True), *_options(env, ("attest-format",))]


def scan_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit scan`` arguments for the inputs in ``env``."""
    argv = ["scan", _required(env, "image")]
    argv += _options(
        env,
        (
            "fail-on",
            "report-severity",
            "ignore-file",
            "db-repository",
            "max-db-age",
            "scanners",
            "json",
            "sarif",
            "gitlab-report",
        ),
    )
    if trivy_cache := _get(env, "trivy-cache"):
        argv.append(f"--cache-dir={_no_flag('trivy-cache', trivy_cache)}")
    # Empty means "as the policy says"; only an explicit value overrides it.
    if _get(env, "ignore-unfixed"):
        argv.append("--ignore-unfixed" if _flag(env, "ignore-unfixed") else "--no-ignore-unfixed")
    for name in ("offline", "allow-stale-db"):
        if _flag(env, name):
            argv.append(f"--{name}")
    return argv + _attestation(env)


def sbom_argv(env: Mapping[str, str]) -> list[str]:
    """The ``mltoolkit sbom`` arguments for the inputs in ``env``."""
    argv = ["sbom", _required(env, "image"), f"--output={_required(env, 'output')}"]
    if trivy_cache := _get(env, "trivy-cache"):
        argv.append(f"--cache-dir={_no_flag('trivy-cache', trivy_cache)}")
    return argv + _attestation(env)


STEPS: dict[str, Callable[[Mapping[str, str]], list[str]]] = {
    "attest": attest_argv,
    "sbom": sbom_argv,
    "scan": scan_argv,
    "sign": sign_argv,
    "verify": verify_argv,
    "promote": promote_argv,
    "approve": approve_argv,
    "register": register_argv,
    "build": build_argv,
    "validate-data": validate_data_argv,
}


def main(args: list[str]) -> int:
    """Build the command line for step ``args[0]`` from the environment and replace this process."""
    if len(args) != 1 or args[0] not in STEPS:
        print(f"usage: invoke.py {{{'|'.join(sorted(STEPS))}}}", file=sys.stderr)
        return 2
    try:
        argv = STEPS[args[0]](os.environ)
    except InputProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tool = Path(sys.executable).parent / "mltoolkit"
    if os.environ.get("RUNNER_DEBUG") == "1":
        print(f"running: {shlex.join([str(tool), *argv])}", file=sys.stderr)
    os.execv(tool, [str(tool), *argv])  # noqa: S606 - argv list, no shell


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
