"""Typed records of the hazard taxonomy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class HazardClass:
    """One class of the taxonomy, as defined in ``hazards.yaml``."""

    code: str
    name: str
    severity: Severity
    aliases: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class HazardType:
    """What a model's class name resolved to.

    ``hazard`` is None when the name matched no taxonomy class; the detection is then
    still reported, under ``label`` (the model's own name) with ``severity`` unknown.
    """

    model_name: str
    hazard: HazardClass | None

    @property
    def code(self) -> str | None:
        return self.hazard.code if self.hazard else None

    @property
    def label(self) -> str:
        return self.hazard.name if self.hazard else self.model_name

    @property
    def severity(self) -> Severity | None:
        return self.hazard.severity if self.hazard else None
