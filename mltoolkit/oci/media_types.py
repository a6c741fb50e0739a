"""Media types of manifests and artifacts that the registry client reads and writes."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
OCTET_STREAM = "application/octet-stream"

MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})

# Sent as Accept on manifest requests: every kind of manifest we can read.
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)
