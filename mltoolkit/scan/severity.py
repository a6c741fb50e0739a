"""Severity levels as trivy names them, ordered so that gates can compare them."""

from __future__ import annotations

from enum import IntEnum

from mltoolkit.errors import InputError


class Severity(IntEnum):
    """trivy's severities, lowest first."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str, *, where: str = "severity") -> Severity:
        """``"high"`` -> ``Severity.HIGH``; anything else is an input error naming the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.name for s in cls)
            raise InputError(
                f"unknown severity {text!r}", where=where, fix=f"use one of {choices}"
            ) from None

    @classmethod
    def from_trivy(cls, text: str | None) -> Severity:
        """A severity from trivy output; an unknown or missing one is UNKNOWN, never an error."""
        try:
            return cls[(text or "UNKNOWN").upper()]
        except KeyError:
            return cls.UNKNOWN
