"""How the sign, verify, attest, scan and sbom steps turn their inputs into one argv
(actions/lib/invoke.py). Fast, offline: no e2e marker."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from e2e_harness import PAYLOAD, ROOT


def _load_invoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("invoke", ROOT / "actions" / "lib" / "invoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


invoke = _load_invoke()
IMAGE = "127.0.0.1:5000/team/app@sha256:" + "a" * 64


def env(**inputs: str) -> dict[str, str]:
    return {f"MLTOOLKIT_INPUT_{k.upper()}": v for k, v in inputs.items()}


def test_sign_with_a_key_and_annotations() -> None:
    argv = invoke.sign_argv(
        env(image=IMAGE, key="cosign.key", annotations=f"a=1\n\nnote={PAYLOAD}\n", format="legacy")
    )
    assert argv == [
        "sign",
        IMAGE,
        "--key=cosign.key",
        "--annotation=a=1",
        f"--annotation=note={PAYLOAD}",
        "--format=legacy",
    ]


def test_sign_keyless_and_the_signer_is_exactly_one() -> None:
    assert invoke.sign_argv(env(image=IMAGE, keyless="true")) == ["sign", IMAGE, "--keyless"]
    with pytest.raises(invoke.InputProblem, match="only one of"):
        invoke.sign_argv(env(image=IMAGE, key="k", keyless="true"))
    with pytest.raises(invoke.InputProblem, match="give one of"):
        invoke.sign_argv(env(image=IMAGE))


def test_verify_keys_and_identities() -> None:
    argv = invoke.verify_argv(env(image=IMAGE, keys="a.pub\nb.pub", signed_identities="r/old"))
    assert argv == ["verify", IMAGE, "--key=a.pub", "--key=b.pub", "--signed-identity=r/old"]
    keyless = invoke.verify_argv(
        env(
            image=IMAGE,
            certificate_identity_regexp="^https://github.com/acme/",
            certificate_oidc_issuer="https://token.actions.githubusercontent.com",
        )
    )
    assert keyless[2:] == [
        "--certificate-identity-regexp=^https://github.com/acme/",
        "--certificate-oidc-issuer=https://token.actions.githubusercontent.com",
    ]
    with pytest.raises(invoke.InputProblem, match="'keys'"):
        invoke.verify_argv(env(image=IMAGE))


def test_attest_needs_type_predicate_and_a_signer() -> None:
    argv = invoke.attest_argv(
        env(image=IMAGE, type="slsaprovenance1", predicate="prov.json", key="k.key")
    )
    assert argv == [
        "attest",
        IMAGE,
        "--type=slsaprovenance1",
        "--predicate=prov.json",
        "--key=k.key",
    ]
    with pytest.raises(invoke.InputProblem, match="'predicate' is required"):
        invoke.attest_argv(env(image=IMAGE, type="custom", key="k.key"))


def test_scan_inputs_and_the_policy_defaults() -> None:
    # Empty inputs add nothing: the policy decides.
    assert invoke.scan_argv(env(image=IMAGE, offline="false", ignore_unfixed="")) == [
        "scan",
        IMAGE,
    ]
    argv = invoke.scan_argv(
        env(
            image=IMAGE,
            fail_on="HIGH",
            db_repository="127.0.0.1:5000/trivy-db:2",
            json="scan.json",
            gitlab_report="gl.json",
            trivy_cache=".cache/trivy",
            ignore_unfixed="false",
            offline="true",
            allow_stale_db="true",
            attest="true",
            key="k.key",
            attest_format="bundle",
        )
    )
    assert argv == [
        "scan",
        IMAGE,
        "--fail-on=HIGH",
        "--db-repository=127.0.0.1:5000/trivy-db:2",
        "--json=scan.json",
        "--gitlab-report=gl.json",
        "--cache-dir=.cache/trivy",
        "--no-ignore-unfixed",
        "--offline",
        "--allow-stale-db",
        "--attest",
        "--key=k.key",
        "--attest-format=bundle",
    ]


def test_scan_and_sbom_refuse_a_key_without_attest() -> None:
    with pytest.raises(invoke.InputProblem, match="need 'attest: true'"):
        invoke.scan_argv(env(image=IMAGE, key="k.key"))
    with pytest.raises(invoke.InputProblem, match="give one of"):
        invoke.sbom_argv(env(image=IMAGE, output="sbom.json", attest="true"))


def test_sbom_argv() -> None:
    argv = invoke.sbom_argv(env(image=IMAGE, output="sbom.cdx.json", attest="true", keyless="1"))
    assert argv == ["sbom", IMAGE, "--output=sbom.cdx.json", "--attest", "--keyless"]


@pytest.mark.parametrize(
    ("step", "inputs"),
    [
        ("sign", {"image": "--help", "key": "k"}),
        ("sign", {"image": IMAGE, "key": "--keyless"}),
        ("verify", {"image": IMAGE, "keys": "a.pub --insecure"}),
        ("attest", {"image": IMAGE, "type": "custom", "predicate": "-", "key": "k"}),
        ("scan", {"image": IMAGE, "fail-on": "--offline"}),
        ("scan", {"image": IMAGE, "gitlab-report": "-o"}),
        ("sbom", {"image": IMAGE, "output": "--attest"}),
    ],
)
def test_values_that_look_like_options_are_refused(step: str, inputs: dict[str, str]) -> None:
    values = {f"MLTOOLKIT_INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()}
    with pytest.raises(invoke.InputProblem, match="looks like an option"):
        invoke.STEPS[step](values)
