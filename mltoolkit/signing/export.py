"""The policy's trust section as the files cluster and node enforcers read.

- ``containers-policy``: containers/image ``policy.json`` (podman, CRI-O, skopeo) with one
  ``sigstoreSigned`` requirement per environment repository (keys only: containers/image's
  keyless support takes e-mail subjects and local Fulcio/Rekor files, not CI identities).
- ``kyverno``: a ``ClusterPolicy`` with ``verifyImages`` attestors (any one of the signers).
- ``policy-controller``: a sigstore ``ClusterImagePolicy`` with one authority per signer.

Repositories come from the policy's environments. Regular expressions are anchored
(``^(?:...)$``): the policy matches whole values, these tools match anywhere. An identity's
``claims`` (Fulcio extensions such as ``source-repository-uri``) have no field in these formats:
the export warns that admission checks only issuer and subject.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import InputError

if TYPE_CHECKING:
    from mltoolkit.policy.model import IdentitySigner, KeySigner, Policy

FORMATS = ("containers-policy", "kyverno", "policy-controller")
FULCIO_URL = "https://fulcio.sigstore.dev"
REKOR_URL = "https://rekor.sigstore.dev"


@dataclass
class Export:
    """The exported document and what could not be expressed in it."""

    text: str
    warnings: list[str] = field(default_factory=list)


def _anchored(pattern: str | None) -> str | None:
    return None if pattern is None else f"^(?:{pattern})$"


def _repositories(policy: Policy) -> list[str]:
    repos = sorted({env.repository for env in policy.environments.values() if env.repository})
    if not repos:
        raise InputError(
            "the policy names no environment repositories to protect",
            where=f"{policy.path}: environments",
            fix="give each environment a `repository:`",
        )
    return repos


def _signature_signers(policy: Policy) -> tuple[dict[str, KeySigner], dict[str, IdentitySigner]]:
    """The signers the policy trusts for image signatures: those admission must accept."""
    from mltoolkit.policy.model import EvidenceType, KeySigner

    keys: dict[str, KeySigner] = {}
    identities: dict[str, IdentitySigner] = {}
    for signer in policy.trust.signers_for(EvidenceType.SIGNATURE):
        if isinstance(signer, KeySigner):
            keys[signer.name] = signer
        else:
            identities[signer.name] = signer
    return keys, identities


def _public_keys(signers: dict[str, KeySigner], warnings: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for name, signer in signers.items():
        if signer.path is None:
            warnings.append(
                f"key {name} is a KMS URI ({signer.uri}): export its public key to a file"
            )
            continue
        try:
            keys[name] = signer.path.read_text()
        except OSError as exc:
            raise InputError(
                f"cannot read the public key: {exc.strerror}", where=f"trust.keys.{name}"
            ) from None
    return keys


def export_policy(policy: Policy, fmt: str) -> Export:
    """Render ``policy``'s trust for ``fmt`` (one of ``FORMATS``)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    warnings: list[str] = []
    key_signers, identities = _signature_signers(policy)
    keys = _public_keys(key_signers, warnings)
    repos = _repositories(policy)
    if fmt == "containers-policy":
        return Export(_containers_policy(identities, keys, repos, warnings), warnings)
    for name, identity in identities.items():
        if identity.claims:
            pinned = ", ".join(str(rule) for rule in identity.claims)
            warnings.append(
                f"identity {name} pins certificate claims ({pinned}) that {fmt} cannot check: "
                "it admits a signature of any repository whose certificate has the same "
                "issuer and subject"
            )
    if not keys and not identities:
        raise InputError(
            "the policy trusts no signer for image signatures",
            where=f"{policy.path}: trust.evidence.signature",
        )
    if fmt == "kyverno":
        return Export(_kyverno(policy, identities, keys, repos), warnings)
    return Export(_policy_controller(identities, keys, repos), warnings)


def _containers_policy(
    identities: dict[str, IdentitySigner],
    keys: dict[str, str],
    repos: list[str],
    warnings: list[str],
) -> str:
    for name in identities:
        warnings.append(
            f"identity {name} is not expressible in containers/image policy.json; left out"
        )
    if not keys:
        raise InputError(
            "containers/image policy.json needs at least one trusted key file", where="trust.keys"
        )
    # NOTE: requirements in one list must all hold, so several keys go into one `keyDatas`
    # (any of them), which containers/image reads since v5.34 (skopeo 1.18, podman 5.4).
    datas = [base64.b64encode(pem.encode()).decode() for pem in keys.values()]
    requirement: dict[str, Any] = {
        "type": "sigstoreSigned",
        "signedIdentity": {"type": "matchRepository"},
    }
    if len(datas) == 1:
        requirement["keyData"] = datas[0]
    else:
        requirement["keyDatas"] = datas
    doc = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {repo: [requirement] for repo in repos},
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]},
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False))


def _image_patterns(repos: list[str]) -> list[str]:
    return [pattern for repo in repos for pattern in (f"{repo}:*", f"{repo}@*")]


def _kyverno(
    policy: Policy, identities: dict[str, IdentitySigner], keys: dict[str, str], repos: list[str]
) -> str:
    entries: list[dict[str, Any]] = [
        {
            "keys": {
                "publicKeys": pem.strip(),
                "rekor": {"ignoreTlog": True},
                "ctlog": {"ignoreSCT": True},
            }
        }
        for pem in keys.values()
    ]
    for identity in identities.values():
        keyless: dict[str, Any] = {"rekor": {"url": REKOR_URL}}
        if identity.subject is not None:
            keyless["subject"] = identity.subject
        else:
            keyless["subjectRegExp"] = _anchored(identity.subject_regexp)
        if identity.issuer is not None:
            keyless["issuer"] = identity.issuer
        else:
            keyless["issuerRegExp"] = _anchored(identity.issuer_regexp)
        entries.append({"keyless": keyless})
    doc = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": "mltoolkit-signed-images",
            "annotations": {
                "policies.kyverno.io/description": f"Generated by mltoolkit from {policy.path.name}"
            },
        },
        "spec": {
            "webhookTimeoutSeconds": 30,
            "rules": [
                {
                    "name": "verify-image-signatures",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "verifyImages": [
                        {
                            "imageReferences": _image_patterns(repos),
                            "failureAction": "Enforce",
                            "mutateDigest": True,
                            "verifyDigest": True,
                            "required": True,
                            "attestors": [{"count": 1, "entries": entries}],
                        }
                    ],
                }
            ],
        },
    }
    return _yaml(doc)


def _policy_controller(
    identities: dict[str, IdentitySigner], keys: dict[str, str], repos: list[str]
) -> str:
    authorities: list[dict[str, Any]] = [
        {"name": f"key-{name}", "key": {"data": pem.strip(), "hashAlgorithm": "sha256"}}
        for name, pem in keys.items()
    ]
    for name, identity in identities.items():
        match: dict[str, str] = {}
        if identity.issuer is not None:
            match["issuer"] = identity.issuer
        else:
            match["issuerRegExp"] = str(_anchored(identity.issuer_regexp))
        if identity.subject is not None:
            match["subject"] = identity.subject
        else:
            match["subjectRegExp"] = str(_anchored(identity.subject_regexp))
        authorities.append(
            {
                "name": f"identity-{name}",
                "keyless": {"url": FULCIO_URL, "identities": [match]},
                "ctlog": {"url": REKOR_URL},
            }
        )
    doc = {
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "mltoolkit-signed-images"},
        "spec": {
            "images": [{"glob": f"{repo}**"} for repo in repos],
            "authorities": authorities,
        },
    }
    return _yaml(doc)
