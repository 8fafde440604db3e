"""The Lua scripts behind sessions.store (`lua/*.lua`): each call is one atomic step on one
session's keys.

Every key a script touches is passed in KEYS and shares the session's hash tag, so a script
stays in one cluster slot. Times are capture times in Unix seconds (floats), so the tracking
window follows the camera's clock rather than the order in which frames happen to reach the
server. Each script's file says what its KEYS, ARGV and reply are.
"""

from __future__ import annotations

from roadhazard.redis.lua import LuaScript

_PACKAGE = "roadhazard.sessions"

TRACK = LuaScript(_PACKAGE, "track.lua")
FINISH_FRAME = LuaScript(_PACKAGE, "finish_frame.lua")
END = LuaScript(_PACKAGE, "end_session.lua")
