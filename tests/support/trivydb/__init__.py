"""A small, synthetic trivy vulnerability DB for tests, served from a real OCI registry."""
