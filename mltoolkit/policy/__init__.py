"""The policy (``mltoolkit.yaml``): trusted signers, gates and environments.

``load_policy(path)`` reads and checks a file into a typed ``Policy``; ``find_policy(settings)``
finds the file named by ``--policy`` / ``$MLTOOLKIT_POLICY`` / ``./mltoolkit.yaml``.
"""

from mltoolkit.policy.loader import DEFAULT_POLICY_FILE, find_policy, load_policy, require_policy
from mltoolkit.policy.model import (
    Approvals,
    DataGate,
    DataSettings,
    Environment,
    EvidenceType,
    Gates,
    IdentitySigner,
    KeySigner,
    Policy,
    Registries,
    ScanGate,
    Scanner,
    Severity,
    Signer,
    SparkSettings,
    Threshold,
    Trust,
)

__all__ = [
    "DEFAULT_POLICY_FILE",
    "Approvals",
    "DataGate",
    "DataSettings",
    "Environment",
    "EvidenceType",
    "Gates",
    "IdentitySigner",
    "KeySigner",
    "Policy",
    "Registries",
    "ScanGate",
    "Scanner",
    "Severity",
    "Signer",
    "SparkSettings",
    "Threshold",
    "Trust",
    "find_policy",
    "load_policy",
    "require_policy",
]
