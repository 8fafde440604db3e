"""Which operations the API document gives a request path, by OpenAPI's matching rule."""

from __future__ import annotations

import functools
import re
from typing import Any

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def allowed_methods(document: dict[str, Any], path: str) -> str | None:
    """The methods `document` gives `path`, as an `Allow` header: its concrete path item if it
    has one, else every templated one it matches. Starlette's own `Allow` names only the first
    route whose path matches, but one resource is often served by several routes (GET, PATCH
    and DELETE of a report). None for a path the document leaves out."""
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    items = (
        [paths[path]]
        if path in paths
        else [item for template, item in paths.items() if _path_pattern(template).fullmatch(path)]
    )
    methods = {method.upper() for item in items for method in item if method in _HTTP_METHODS}
    return ", ".join(sorted(methods)) or None


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("[^/]+".join(re.escape(part) for part in re.split(r"\{[^/{}]+\}", template)))
