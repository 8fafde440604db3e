"""The Lua loader: package files, included preludes, one registration per client."""

from __future__ import annotations

from importlib.resources import files
from types import ModuleType

import pytest
from redis.asyncio import Redis

from roadhazard.coverage import scripts as coverage_scripts
from roadhazard.geocoding import cache
from roadhazard.ratelimit import script
from roadhazard.redis import create_client
from roadhazard.redis.lua import LuaScript
from roadhazard.reports import scripts as report_scripts
from roadhazard.sessions import scripts as session_scripts

# Every module that declares scripts; each domain's prelude is only ever included.
DECLARING: tuple[ModuleType, ...] = (
    report_scripts,
    session_scripts,
    coverage_scripts,
    script,
    cache,
)
INCLUDED_ONLY = {
    ("roadhazard.reports", name)
    for name in ("prelude.lua", "geohash.lua", "clusters.lua", "report_scan.lua")
}


def declared() -> list[LuaScript]:
    return [
        value
        for module in DECLARING
        for value in vars(module).values()
        if isinstance(value, LuaScript)
    ]


def test_every_lua_file_is_declared_once_or_included() -> None:
    found = {
        (package, path.name)
        for package in {s.package for s in declared()}
        for path in (files(package) / "lua").iterdir()
        if path.name.endswith(".lua")
    }
    names = [(s.package, s.file) for s in declared()]
    assert len(names) == len(set(names)) == 22
    assert found == set(names) | INCLUDED_ONLY


def test_a_script_that_includes_the_prelude_gets_it_in_front() -> None:
    prelude = LuaScript("roadhazard.reports", "prelude.lua").source
    create = report_scripts.CREATE.source
    assert create.startswith(prelude)
    assert "-- include: prelude.lua\n" in create[len(prelude) :]
    assert not report_scripts.IDEM_BEGIN.source.startswith(prelude)


def test_included_files_bring_their_own_includes_once() -> None:
    geohash = LuaScript("roadhazard.reports", "geohash.lua").source
    points = report_scripts.POINTS.source
    # points.lua includes report_scan.lua, which includes clusters.lua, which includes geohash.lua.
    assert points.startswith(geohash)
    assert points.count("local function geohash(") == 1
    assert report_scripts.CREATE.source.count("local function geohash(") == 1


def test_a_script_may_include_another_packages_file() -> None:
    geohash = LuaScript("roadhazard.reports", "geohash.lua").source
    record = coverage_scripts.RECORD.source
    assert record.startswith(geohash)
    assert "-- include: roadhazard.reports:geohash.lua\n" in record[len(geohash) :]


async def test_each_script_is_registered_once_per_client(redis: Redis, redis_url: str) -> None:
    first = report_scripts.CREATE.registered_on(redis)
    assert report_scripts.CREATE.registered_on(redis) is first
    assert report_scripts.UPDATE.registered_on(redis) is not first
    other = create_client(redis_url, socket_timeout_s=5, connect_timeout_s=5, retries=1)
    try:
        assert report_scripts.CREATE.registered_on(other) is not first
    finally:
        await other.aclose()


@pytest.mark.parametrize("lua", declared(), ids=lambda s: s.file)
async def test_redis_compiles_every_script(redis: Redis, lua: LuaScript) -> None:
    registered = lua.registered_on(redis)
    assert await redis.script_load(lua.source) == registered.sha
