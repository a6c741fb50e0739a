"""Cosign-compatible signing: keys, simple-signing payloads, DSSE attestations and their storage
next to the image in an OCI registry (cosign 2.x tags and cosign 3.x Sigstore bundles)."""
