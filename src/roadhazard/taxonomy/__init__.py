"""Hazard classes as data, and the mapping from a model's class names onto them."""

from roadhazard.taxonomy.schemas import HazardClass, HazardType, Severity
from roadhazard.taxonomy.service import (
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
    normalize_name,
    resolve,
    resolve_model_classes,
)

__all__ = [
    "HazardClass",
    "HazardType",
    "Severity",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
    "normalize_name",
    "resolve",
    "resolve_model_classes",
]
