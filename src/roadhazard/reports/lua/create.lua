-- include: prelude.lua
-- Stores and indexes a new report unless its id exists; links it to a near duplicate.
-- KEYS[1]: the report. ARGV: prefix, dedupe radius in metres (0: off), now (ISO), the event
-- stream's length, then field/value pairs. Returns {created (0|1), duplicate_of or ''}.

local key = KEYS[1]
if redis.call('EXISTS', key) == 1 then
  return {0, redis.call('HGET', key, 'duplicate_of') or ''}
end
local r = {}
for i = 5, #ARGV, 2 do r[ARGV[i]] = ARGV[i + 1] end
local problem = invalid(r)
if problem then return redis.error_reply('invalid report: ' .. problem) end
local radius = tonumber(ARGV[2])
local target, target_key
if radius > 0 and r.lon ~= '' and geo_ok(r) then
  local near = redis.call('GEOSEARCH', P .. 'geo:' .. r.token, 'FROMLONLAT', r.lon, r.lat,
    'BYRADIUS', radius, 'm', 'ASC', 'COUNT', 16)
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
r.cells_v = CELLS_VERSION
store(key, r)
index(r, true)
count(r, 1)
if target then
  emit(tonumber(ARGV[4]), 'report.duplicate', r, ARGV[3], {'duplicate_of', target})
else
  emit(tonumber(ARGV[4]), 'report.created', r, ARGV[3], {})
end
return {1, r.duplicate_of}
