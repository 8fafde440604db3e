"""Load the hazard taxonomy and map a model's class names onto it.

Resolution order for one model class name:

1. the operator's explicit mapping (``ROADHAZARD_CLASS_MAP``: model name -> code or name),
2. an unambiguous automatic match of the normalized name against each class's code,
   display name and aliases, or against a single RDD code embedded in the name
   (``"D40_pothole"``),
3. otherwise the class stays unmapped and is reported under its own name.

A bad explicit mapping is a configuration error and raises; an unknown model name is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from roadhazard.taxonomy.schemas import HazardClass, HazardType, Severity

_SEPARATORS = re.compile(r"[\s_\-./:]+")
_CODE_TOKEN = re.compile(r"^d\d{2}$")


class TaxonomyError(ValueError):
    """The taxonomy file or a class mapping is invalid."""


def normalize_name(name: str) -> str:
    """Case- and separator-insensitive key: ``"Alligator_Crack"`` -> ``"alligator crack"``."""
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


class Taxonomy:
    def __init__(self, hazards: Sequence[HazardClass]) -> None:
        self.hazards: tuple[HazardClass, ...] = tuple(hazards)
        self._by_code: dict[str, HazardClass] = {}
        self._by_key: dict[str, HazardClass] = {}
        for hazard in self.hazards:
            if hazard.code.upper() in self._by_code:
                raise TaxonomyError(f"duplicate hazard code {hazard.code!r}")
            self._by_code[hazard.code.upper()] = hazard
        for hazard in self.hazards:
            for alias in (hazard.code, hazard.name, *hazard.aliases):
                key = normalize_name(alias)
                other = self._by_key.get(key)
                if other is not None and other is not hazard:
                    raise TaxonomyError(f"{alias!r} names both {other.code} and {hazard.code}")
                self._by_key[key] = hazard

    def get(self, code: str) -> HazardClass:
        try:
            return self._by_code[code.strip().upper()]
        except KeyError:
            raise TaxonomyError(f"unknown hazard code {code!r}") from None

    def match(self, name: str) -> HazardClass | None:
        """Automatic match only; None when nothing or more than one class fits."""
        key = normalize_name(name)
        hazard = self._by_key.get(key)
        if hazard is not None:
            return hazard
        codes = {token.upper() for token in key.split() if _CODE_TOKEN.match(token)}
        if len(codes) == 1:
            return self._by_code.get(codes.pop())
        return None

    def resolve(self, name: str, overrides: Mapping[str, str] | None = None) -> HazardType:
        target = _lookup_override(name, overrides or {})
        if target is not None:
            hazard = self.match(target)
            if hazard is None:
                raise TaxonomyError(
                    f"class mapping {name!r} -> {target!r}: {target!r} is not a hazard code "
                    f"or name (known codes: {', '.join(h.code for h in self.hazards)})"
                )
            return HazardType(model_name=name, hazard=hazard)
        return HazardType(model_name=name, hazard=self.match(name))

    def resolve_model_classes(
        self,
        names: Mapping[int, str] | Sequence[str],
        overrides: Mapping[str, str] | None = None,
    ) -> dict[int, HazardType]:
        """Resolve every class of a model, keyed by its class id."""
        items = names.items() if isinstance(names, Mapping) else enumerate(names)
        return {int(class_id): self.resolve(name, overrides) for class_id, name in items}


def _lookup_override(name: str, overrides: Mapping[str, str]) -> str | None:
    if name in overrides:
        return overrides[name]
    key = normalize_name(name)
    for model_name, target in overrides.items():
        if normalize_name(model_name) == key:
            return target
    return None


def _parse_hazard(entry: Any) -> HazardClass:
    if not isinstance(entry, Mapping):
        raise TaxonomyError(f"hazard entry must be a mapping, got {entry!r}")
    try:
        code, name, severity = str(entry["code"]), str(entry["name"]), str(entry["severity"])
    except KeyError as missing:
        raise TaxonomyError(f"hazard entry {entry!r} lacks {missing}") from None
    try:
        level = Severity(severity)
    except ValueError:
        raise TaxonomyError(f"{code}: severity must be low/medium/high, not {severity!r}") from None
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list):
        raise TaxonomyError(f"{code}: aliases must be a list")
    description = entry.get("description") or ""
    if not isinstance(description, str):
        raise TaxonomyError(f"{code}: description must be text")
    return HazardClass(
        code=code,
        name=name,
        severity=level,
        aliases=tuple(map(str, aliases)),
        description=description,
    )


def parse_taxonomy(text: str) -> Taxonomy:
    document = yaml.safe_load(text)
    if not isinstance(document, Mapping) or not isinstance(document.get("hazards"), list):
        raise TaxonomyError("taxonomy file must contain a 'hazards' list")
    return Taxonomy([_parse_hazard(entry) for entry in document["hazards"]])


@cache
def load_taxonomy() -> Taxonomy:
    """The bundled taxonomy, read from package data once per process."""
    text = resources.files("roadhazard.taxonomy").joinpath("hazards.yaml").read_text("utf-8")
    return parse_taxonomy(text)


def resolve(name: str, overrides: Mapping[str, str] | None = None) -> HazardType:
    """Resolve one model class name against the bundled taxonomy."""
    return load_taxonomy().resolve(name, overrides)


def resolve_model_classes(
    names: Mapping[int, str] | Sequence[str], overrides: Mapping[str, str] | None = None
) -> dict[int, HazardType]:
    return load_taxonomy().resolve_model_classes(names, overrides)
