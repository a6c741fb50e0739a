"""OCI images in registries.

- ``reference``: ``ImageRef`` and ``Digest`` (parsing as Docker/distribution does); no third-party
  imports, cheap to import from command modules.
- ``registry``: ``RegistryClient`` (manifests, blobs, tags, mounts, referrers) over ``transport``
  (one requests session, auth challenges, ``retry`` policy) with credentials from ``auth``.
- ``copy``: byte-exact copies of images and what is attached to them, by digest.
- ``media_types``: the manifest and artifact media types.
"""

from mltoolkit.oci.reference import Digest, ImageRef

__all__ = ["Digest", "ImageRef"]
