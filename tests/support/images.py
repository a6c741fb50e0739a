"""Tiny real images pushed straight to the registry (config + one layer + manifest), for the
signing, evidence and CI-step tests: no engine needed, and each call makes a distinct digest."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections.abc import Mapping

from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_image(
    client: RegistryClient,
    repo: str,
    tag: str = "latest",
    files: Mapping[str, bytes] | None = None,
) -> ImageRef:
    """Push a one-layer image under ``repo:tag`` and return it pinned to its digest.

    The layer holds ``files`` (default: one ``hello.txt``) beside a random nonce file, so every
    call gives a new digest.
    """
    nonce = os.urandom(32).hex().encode()
    contents = {"hello.txt": nonce} if files is None else {"nonce": nonce, **files}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(raw.getvalue()))]},
        }
    ).encode()
    ref = ImageRef.parse(f"{repo}:{tag}")
    client.put_blob(ref, layer)
    client.put_blob(ref, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": str(Digest.of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    digest = client.put_manifest(ref, tag, manifest, OCI_MANIFEST)
    return ref.with_digest(digest)
