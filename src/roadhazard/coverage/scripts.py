"""The Lua script behind coverage.store (`lua/record.lua`): one frame's position recorded in
its session's passes, its track and its cells, atomically. It names cells with the reports'
geohash (`-- include: roadhazard.reports:geohash.lua`), so a coverage cell and a map cell of the
same geohash are the same place. Times are capture times in Unix milliseconds, from ARGV."""

from __future__ import annotations

from roadhazard.redis.lua import LuaScript

RECORD = LuaScript("roadhazard.coverage", "record.lua")
