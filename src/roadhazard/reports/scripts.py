"""The Lua scripts that change reports (`lua/*.lua`): each one updates a report, every index and
the stats in one atomic step, so a crash or a lost connection never leaves a report half-indexed.

All keys live under the `{reports}` hash tag (one cluster slot). KEYS[1] is always the report's
own key; the index keys depend on the report's fields, so the scripts build them from the
prefix in ARGV[1] with the names `roadhazard.reports.keys` documents (`lua/prelude.lua`, shared by
the scripts that include it). Scripts read their time from ARGV, never from the server, so tests
can inject a clock. Each script's file says what its KEYS, ARGV and reply are.

The map's scripts (roadhazard.reports.clusters) build every key they read from the prefix too;
their KEYS[1] is a fixed key of the {reports} slot, so a cluster client sends them to its node.
"""

from __future__ import annotations

from roadhazard.redis.lua import LuaScript

_PACKAGE = "roadhazard.reports"

# Reports: file, change state, change fields, delete.
CREATE = LuaScript(_PACKAGE, "create.lua")
TRANSITION = LuaScript(_PACKAGE, "transition.lua")
UPDATE = LuaScript(_PACKAGE, "update.lua")
DELETE = LuaScript(_PACKAGE, "delete.lua")

# Idempotency records of report creation, with a lease.
IDEM_BEGIN = LuaScript(_PACKAGE, "idempotency_begin.lua")
IDEM_FINISH = LuaScript(_PACKAGE, "idempotency_finish.lua")
IDEM_RELEASE = LuaScript(_PACKAGE, "idempotency_release.lua")

# Durable job queues (see roadhazard.reports.outbox).
JOB_STAGE = LuaScript(_PACKAGE, "job_stage.lua")
JOB_CLAIM = LuaScript(_PACKAGE, "job_claim.lua")
JOB_DONE = LuaScript(_PACKAGE, "job_done.lua")
JOB_RETRY = LuaScript(_PACKAGE, "job_retry.lua")

# The map: cells' counters, cells counted from the reports, single reports; and the rebuild
# that counts older reports into the cells.
CELLS_READ = LuaScript(_PACKAGE, "cells_read.lua")
CELLS_SCAN = LuaScript(_PACKAGE, "cells_scan.lua")
POINTS = LuaScript(_PACKAGE, "points.lua")
CELLS_REBUILD = LuaScript(_PACKAGE, "cells_rebuild.lua")
