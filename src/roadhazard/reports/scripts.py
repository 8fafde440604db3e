"""The Lua scripts that change reports: each one updates a report, every index and the stats
in one atomic step, so a crash or a lost connection never leaves a report half-indexed.

All keys live under the `{reports}` hash tag (one cluster slot). KEYS[1] is always the report's
own key; the index keys depend on the report's fields, so the scripts build them from the
prefix in ARGV[1] with the names `roadhazard.redis.keys` documents. Scripts read their time
from ARGV, never from the server, so tests can inject a clock.
"""

from __future__ import annotations

from roadhazard.reports.states import OPEN_STATES

_OPEN = ", ".join(f"{state.value}=true" for state in sorted(OPEN_STATES))

_COMMON = f"""
local P = ARGV[1]
local OPEN = {{{_OPEN}}}

local function status_of(state)
  if OPEN[state] then return 'open' end
  return 'closed'
end

local function load(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local r = {{}}
  for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end

local function encode_list(items)
  if #items == 0 then return '[]' end
  return cjson.encode(items)
end

local function decode_list(raw)
  if not raw or raw == '' or raw == '{{}}' then return {{}} end
  return cjson.decode(raw)
end

-- Positions Redis can index: its geo sets stop at 85.05112878 degrees of latitude.
local function geo_ok(r)
  local lat, lon = tonumber(r.lat), tonumber(r.lon)
  return lat ~= nil and lon ~= nil and math.abs(lat) <= 85.05112878 and math.abs(lon) <= 180
end

local function invalid(r)
  if not tonumber(r.created_ms) then return 'created_ms must be a number' end
  if not tonumber(r.last_seen_ms) then return 'last_seen_ms must be a number' end
  if r.conf_micros ~= '' and not tonumber(r.conf_micros) then return 'bad conf_micros' end
  if (r.lat == '') ~= (r.lon == '') then return 'lat and lon go together' end
  if r.lat ~= '' and not (tonumber(r.lat) and tonumber(r.lon)) then return 'bad location' end
  if not (r.id and r.state and r.code and r.token and r.severity and r.session_id) then
    return 'missing field'
  end
  return nil
end

local function index(r, add)
  local sets = {{P .. 'by_time', P .. 'state:' .. r.state,
    P .. 'status:' .. status_of(r.state), P .. 'class:' .. r.token}}
  if r.session_id ~= '' then sets[#sets + 1] = P .. 'session:' .. r.session_id end
  for _, key in ipairs(sets) do
    if add then redis.call('ZADD', key, r.created_ms, r.id) else redis.call('ZREM', key, r.id) end
  end
  if r.lon ~= '' and geo_ok(r) then
    if add then
      redis.call('GEOADD', P .. 'geo_all', r.lon, r.lat, r.id)
      if OPEN[r.state] then redis.call('GEOADD', P .. 'geo:' .. r.token, r.lon, r.lat, r.id) end
    else
      redis.call('ZREM', P .. 'geo_all', r.id)
      redis.call('ZREM', P .. 'geo:' .. r.token, r.id)
    end
  end
end

local function count(r, delta)
  local stats = P .. 'stats'
  local severity = r.severity
  if severity == '' then severity = 'unknown' end
  redis.call('HINCRBY', stats, 'total', delta)
  redis.call('HINCRBY', stats, 'state:' .. r.state, delta)
  redis.call('HINCRBY', stats, 'status:' .. status_of(r.state), delta)
  redis.call('HINCRBY', stats, 'class:' .. r.code, delta)
  redis.call('HINCRBY', stats, 'severity:' .. severity, delta)
  if r.conf_micros ~= '' then
    redis.call('HINCRBY', stats, 'conf_micros', delta * tonumber(r.conf_micros))
    redis.call('HINCRBY', stats, 'conf_n', delta)
  end
end

local function store(key, r)
  local flat = {{}}
  for name, value in pairs(r) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  redis.call('HSET', key, unpack(flat))
end

local function pairs_from(first)
  local given = {{}}
  for i = first, #ARGV, 2 do given[ARGV[i]] = ARGV[i + 1] end
  return given
end

-- Changes the given fields of a report, keeping its stats and indexes in step.
local function apply_update(key, given, now)
  local r = load(key)
  if not r then return 0 end
  if given.last_seen_ms and tonumber(given.last_seen_ms) <= tonumber(r.last_seen_ms) then
    given.last_seen = nil
    given.last_seen_ms = nil
  end
  local after = {{}}
  for name, value in pairs(r) do after[name] = value end
  local changes = {{'updated', now}}
  for name, value in pairs(given) do
    after[name] = value
    changes[#changes + 1] = name
    changes[#changes + 1] = value
  end
  local problem = invalid(after)
  if problem then return redis.error_reply('invalid update: ' .. problem) end
  local moved = given.lat ~= nil or given.lon ~= nil
  if moved then index(r, false) end
  count(r, -1)
  count(after, 1)
  redis.call('HSET', key, unpack(changes))
  if moved then index(after, true) end
  return 1
end
"""

# ARGV: prefix, dedupe radius in metres (0: off), now (ISO), then field/value pairs.
# Returns {created (0|1), duplicate_of or ''}.
CREATE = (
    _COMMON
    + """
local key = KEYS[1]
if redis.call('EXISTS', key) == 1 then
  return {0, redis.call('HGET', key, 'duplicate_of') or ''}
end
local r = {}
for i = 4, #ARGV, 2 do r[ARGV[i]] = ARGV[i + 1] end
local problem = invalid(r)
if problem then return redis.error_reply('invalid report: ' .. problem) end
local radius = tonumber(ARGV[2])
if radius > 0 and r.lon ~= '' and geo_ok(r) then
  local near = redis.call('GEOSEARCH', P .. 'geo:' .. r.token, 'FROMLONLAT', r.lon, r.lat,
    'BYRADIUS', radius, 'm', 'ASC', 'COUNT', 16)
  local target, target_key
  for _, candidate in ipairs(near) do
    local candidate_key = P .. 'report:' .. candidate
    local session = redis.call('HGET', candidate_key, 'session_id')
    -- Within one session the tracker has already told hazards apart (two potholes side by
    -- side share one GPS fix); only another session's report, or a manual one, is a duplicate.
    if session and (r.session_id == '' or session ~= r.session_id) then
      target, target_key = candidate, candidate_key
      break
    end
  end
  if target then
    r.state = 'duplicate'
    r.duplicate_of = target
    local duplicates = decode_list(redis.call('HGET', target_key, 'duplicates'))
    duplicates[#duplicates + 1] = r.id
    redis.call('HSET', target_key, 'duplicates', encode_list(duplicates), 'updated', ARGV[3])
    redis.call('HINCRBY', target_key, 'confirmations', 1)
    local seen = tonumber(redis.call('HGET', target_key, 'last_seen_ms'))
    if tonumber(r.last_seen_ms) > seen then
      redis.call('HSET', target_key, 'last_seen', r.last_seen, 'last_seen_ms', r.last_seen_ms)
    end
  end
end
r.history = cjson.encode({{state = r.state, at = r.requested}})
store(key, r)
index(r, true)
count(r, 1)
return {1, r.duplicate_of}
"""
)

# ARGV: prefix, target state, now (ISO), then the states the target may be reached from.
# Returns {'ok', old state} | {'missing'} | {'illegal', current state}.
TRANSITION = (
    _COMMON
    + """
local r = load(KEYS[1])
if not r then return {'missing'} end
local allowed = false
for i = 4, #ARGV do
  if ARGV[i] == r.state then allowed = true end
end
if not allowed then return {'illegal', r.state} end
local old = r.state
index(r, false)
count(r, -1)
r.state = ARGV[2]
index(r, true)
count(r, 1)
local history = decode_list(r.history)
history[#history + 1] = {state = r.state, at = ARGV[3]}
redis.call('HSET', KEYS[1], 'state', r.state, 'updated', ARGV[3], 'history', cjson.encode(history))
return {'ok', old}
"""
)

# ARGV: prefix, now (ISO), then field/value pairs (description, tags, severity; for a new best
# frame confidence, conf_micros, box, image_* and last_seen/last_seen_ms, which only move
# forward; a position found by geocoding). Returns 1, or 0 when the report is gone.
UPDATE = (
    _COMMON
    + """
return apply_update(KEYS[1], pairs_from(3), ARGV[2])
"""
)

# ARGV: prefix. Returns 1, or 0 when there was nothing to delete.
DELETE = (
    _COMMON
    + """
local r = load(KEYS[1])
if not r then return 0 end
index(r, false)
count(r, -1)
if r.duplicate_of ~= '' then
  local target_key = P .. 'report:' .. r.duplicate_of
  local kept = {}
  for _, id in ipairs(decode_list(redis.call('HGET', target_key, 'duplicates'))) do
    if id ~= r.id then kept[#kept + 1] = id end
  end
  if redis.call('EXISTS', target_key) == 1 then
    redis.call('HSET', target_key, 'duplicates', encode_list(kept))
  end
end
redis.call('DEL', KEYS[1])
return 1
"""
)

# Idempotency records: KEYS[1] is the record. A record is
# {state: in_flight|done, fp, token, report_id, lease_until, status, body}, JSON.

# ARGV: fingerprint, token, proposed report id, now (ms), lease end (ms), ttl (s).
# Returns {'new', id} | {'takeover', id} | {'busy'} | {'mismatch'} | {'done', status, body}.
IDEM_BEGIN = """
local raw = redis.call('GET', KEYS[1])
if not raw then
  local record = {state = 'in_flight', fp = ARGV[1], token = ARGV[2], report_id = ARGV[3],
    lease_until = ARGV[5]}
  redis.call('SET', KEYS[1], cjson.encode(record), 'EX', ARGV[6])
  return {'new', ARGV[3]}
end
local record = cjson.decode(raw)
if record.fp ~= ARGV[1] then return {'mismatch'} end
if record.state == 'done' then return {'done', record.status, record.body} end
if tonumber(record.lease_until) > tonumber(ARGV[4]) then return {'busy'} end
record.token = ARGV[2]
record.lease_until = ARGV[5]
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return {'takeover', record.report_id}
"""

# ARGV: token, status, body, ttl (s). Only the request holding the lease may finish it.
IDEM_FINISH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.token ~= ARGV[1] then return 0 end
record.state = 'done'
record.status = ARGV[2]
record.body = ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(record), 'EX', ARGV[4])
return 1
"""

# ARGV: token. Ends the lease early, so a retry takes over at once with the same report id.
IDEM_RELEASE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.token ~= ARGV[1] or record.state ~= 'in_flight' then return 0 end
record.lease_until = '0'
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
"""


# Durable job queues (see roadhazard.reports.outbox). KEYS[1] is the job's hash, KEYS[2] its
# queue. A job's `version` grows each time it is staged again, so a worker that finishes an
# older version of the job (a better frame arrived, the report was deleted) changes nothing.

# ARGV: job id, due (ms), now (ms), then field/value pairs. Returns the new version.
JOB_STAGE = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') + 1
redis.call('DEL', KEYS[1])
local fields = {'version', version, 'attempts', 0, 'staged_ms', ARGV[3]}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return version
"""

# KEYS[1] is the queue. ARGV: now (ms), lease end (ms), limit. Returns the due job ids, each
# now leased: another worker skips it until the lease ends, and a crashed worker's job comes
# back when it does.
JOB_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

# KEYS[3] is the job's report. ARGV: prefix, job id, version, now (ISO), then report fields to
# set. Returns 1 (done, report updated), 0 (done, the report is gone), -1 (stale version).
JOB_DONE = (
    _COMMON
    + """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[3] then return -1 end
local result = 0
local given = pairs_from(5)
if next(given) then
  result = apply_update(KEYS[3], given, ARGV[4])
  if type(result) == 'table' then return result end
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  result = 1
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return result
"""
)

# ARGV: job id, version, next due (ms), the error. Returns 1, or 0 for a stale version (the job
# was staged again meanwhile and is already due).
JOB_RETRY = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""
