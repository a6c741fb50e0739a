"""Release-manager approvals: signed attestations bound to a model version, its image digest
and one environment."""

from mltoolkit.approvals.record import Approval, approval_predicate, parse_approval

__all__ = ["Approval", "approval_predicate", "parse_approval"]
