"""Lua scripts kept as package data (`<domain>/lua/*.lua`), registered once per Redis client.

A script may begin with `-- include: <file>.lua` lines. The loader puts each named file (from
the same `lua/` folder, with the files it includes in turn, each file once) in front of the
script, so functions several scripts share, such as the reports' prelude, are written once, and
each script is still one self-contained EVAL, which is all Redis accepts.
`-- include: <package>:<file>.lua` names a file of another package's `lua/` folder (coverage
names its cells with the reports' geohash this way).

Registration is dramatiq's: redis-py's `register_script` gives an object that sends EVALSHA and
loads the script only when the server does not know it yet. A client keeps one such object per
script, so every store and queue built on that client shares it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_INCLUDE_LINE = re.compile(r"-- include: (?:(?P<package>[\w.]+):)?(?P<file>[\w.-]+\.lua)")

# The registered scripts live on the client itself, so they are dropped with it. A weak mapping
# keyed by client would never drop an entry: each script holds its client strongly.
_REGISTERED_ATTR = "_roadhazard_lua_scripts"


@dataclass(frozen=True)
class LuaScript:
    """The script `file` in the `lua/` folder of the Python package `package`."""

    package: str
    file: str

    @property
    def source(self) -> str:
        """The script's text, with the files it includes in front."""
        return _source(self.package, self.file)

    def registered_on(self, client: Redis) -> AsyncScript:
        """This script registered on `client`: the same object every time for one client."""
        registered: dict[LuaScript, AsyncScript] | None = getattr(client, _REGISTERED_ATTR, None)
        if registered is None:
            registered = {}
            setattr(client, _REGISTERED_ATTR, registered)
        script = registered.get(self)
        if script is None:
            script = registered[self] = client.register_script(self.source)
        return script


@cache
def _read(package: str, file: str) -> str:
    return (files(package) / "lua" / file).read_text(encoding="utf-8")


@cache
def _source(package: str, file: str) -> str:
    included = _included(package, file, {(package, file)})
    return "".join(part if part.endswith("\n") else part + "\n" for part in included)


def _included(package: str, file: str, seen: set[tuple[str, str]]) -> list[str]:
    """`file` after what it includes, each file once however often it is named: an included
    file may include others (the reports' prelude includes the geohash)."""
    text = _read(package, file)
    parts: list[str] = []
    for line in text.splitlines():
        match = _INCLUDE_LINE.fullmatch(line.strip())
        if match is None:
            break
        named = (match["package"] or package, match["file"])
        if named not in seen:
            seen.add(named)
            parts += _included(*named, seen)
    return [*parts, text]
