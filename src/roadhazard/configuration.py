"""Reading the configuration at start (composition level, beside app and cli).

`Settings` checks what it can alone; the checks that need a domain's knowledge (which roles an
API key may have, which hazards a class may map to) run here, before anything is built, and
every problem is reported in the same one-line message, by the variable's name.
"""

from __future__ import annotations

from collections.abc import Callable

from roadhazard.access.service import AccessPolicy
from roadhazard.settings import (
    INVALID,
    ConfigurationError,
    Settings,
    read_settings,
    setting_problem,
)
from roadhazard.taxonomy.service import load_taxonomy

__all__ = ["ConfigurationError", "load_settings"]


def _check_class_map(settings: Settings) -> None:
    taxonomy = load_taxonomy()
    for model_name in settings.class_map:
        taxonomy.resolve(model_name, settings.class_map)  # a TaxonomyError names the bad entry


# Each setting with the domain check that parses it; their errors never quote a secret.
DOMAIN_CHECKS: tuple[tuple[str, Callable[[Settings], object]], ...] = (
    ("class_map", _check_class_map),
    ("api_keys", AccessPolicy.from_settings),
)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and `overrides`), or a ConfigurationError naming every
    problem the settings and the domains find."""
    settings = read_settings(**overrides)
    problems: list[str] = []
    for field, check in DOMAIN_CHECKS:
        try:
            check(settings)
        except ValueError as exc:
            problems.append(setting_problem(field, str(exc)))
    if problems:
        raise ConfigurationError(INVALID + "; ".join(problems))
    return settings
