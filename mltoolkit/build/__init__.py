"""Building images: the engine connection, labels, the build itself, push, and provenance.

``pipeline.run_build`` runs it all for ``mltoolkit build``; the modules below it each hold one
part: ``request`` (checked inputs), ``source`` (git and CI facts), ``labels`` (OCI labels),
``engine`` (the Docker connection), ``builder`` (the build stream), ``push`` (push with retries,
digest confirmed with the registry) and ``provenance`` (SLSA v1).
"""
