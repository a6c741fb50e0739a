"""The scan gate: trivy as a subprocess, an expiring ignore list, a gate, reports and the DB.

Modules point downwards: ``runner`` uses ``trivy``, ``db``, ``findings``, ``ignore`` and ``gate``;
``reports/`` render a ``ScanOutcome``. Nothing here knows about CI platforms or click.
"""
