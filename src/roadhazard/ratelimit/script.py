"""The Lua script that checks and counts one request, atomically, whichever process sends it.

The algorithm (a two-window weighted counter) and why it was chosen are explained at the top of
`lua/sliding_window.lua`.
"""

from __future__ import annotations

from roadhazard.redis.lua import LuaScript

SLIDING_WINDOW = LuaScript("roadhazard.ratelimit", "sliding_window.lua")
