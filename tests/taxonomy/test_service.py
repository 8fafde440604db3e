from __future__ import annotations

import pytest

from roadhazard.taxonomy import (
    Severity,
    TaxonomyError,
    load_taxonomy,
    normalize_name,
    resolve,
    resolve_model_classes,
)
from roadhazard.taxonomy.service import parse_taxonomy


def test_bundled_taxonomy_has_the_five_rdd_classes() -> None:
    taxonomy = load_taxonomy()
    assert [h.code for h in taxonomy.hazards] == ["D00", "D10", "D20", "D40", "D50"]
    assert taxonomy.get("D40").name == "Pothole"
    assert taxonomy.get("d40").severity is Severity.HIGH
    assert load_taxonomy() is taxonomy  # loaded once


@pytest.mark.parametrize(
    ("model_name", "code"),
    [
        ("D40", "D40"),
        ("pothole", "D40"),
        ("Potholes", "D40"),
        ("Alligator Crack", "D20"),
        ("longitudinal_crack", "D00"),
        ("Transverse-Crack", "D10"),
        ("manhole cover", "D50"),
        ("MANHOLE", "D50"),
        ("d00_crack", "D00"),
    ],
)
def test_third_party_names_map_automatically(model_name: str, code: str) -> None:
    hazard_type = resolve(model_name)
    assert hazard_type.code == code
    assert hazard_type.model_name == model_name


@pytest.mark.parametrize("model_name", ["speed bump", "crack", "D00 D10", "D99"])
def test_unknown_or_ambiguous_names_stay_unmapped_under_their_own_name(model_name: str) -> None:
    hazard_type = resolve(model_name)
    assert hazard_type.hazard is None
    assert hazard_type.code is None
    assert hazard_type.label == model_name
    assert hazard_type.severity is None


def test_overrides_win_and_match_names_loosely() -> None:
    overrides = {"Bump_Hole": "D40", "crack": "Alligator crack"}
    assert resolve("bump hole", overrides).code == "D40"
    assert resolve("crack", overrides).code == "D20"
    # An override beats an automatic match.
    assert resolve("pothole", {"pothole": "D50"}).code == "D50"


def test_override_to_an_unknown_code_is_a_configuration_error() -> None:
    with pytest.raises(TaxonomyError, match="D77"):
        resolve("bump", {"bump": "D77"})


def test_resolve_model_classes_accepts_ultralytics_names_dict_and_lists() -> None:
    by_id = resolve_model_classes({0: "pothole", 1: "cone"})
    assert by_id[0].code == "D40"
    assert by_id[1].code is None
    assert by_id[1].label == "cone"
    assert [t.code for t in resolve_model_classes(["D00", "D10"]).values()] == ["D00", "D10"]


def test_normalize_name_ignores_case_and_separators() -> None:
    assert normalize_name("  Alligator__Crack-2 ") == "alligator crack 2"


def test_alias_shared_by_two_classes_is_rejected() -> None:
    text = """
hazards:
  - {code: A, name: One, severity: low, aliases: [same]}
  - {code: B, name: Two, severity: low, aliases: [same]}
"""
    with pytest.raises(TaxonomyError, match="same"):
        parse_taxonomy(text)


def test_invalid_severity_is_rejected() -> None:
    with pytest.raises(TaxonomyError, match="severity"):
        parse_taxonomy("hazards:\n  - {code: A, name: One, severity: dire}\n")


def test_every_bundled_class_describes_itself() -> None:
    assert all(hazard.description.endswith(".") for hazard in load_taxonomy().hazards)


def test_a_description_is_optional_text() -> None:
    plain = parse_taxonomy("hazards:\n  - {code: A, name: One, severity: low}\n")
    assert plain.hazards[0].description == ""
    with pytest.raises(TaxonomyError, match="description"):
        parse_taxonomy("hazards:\n  - {code: A, name: One, severity: low, description: [x]}\n")
