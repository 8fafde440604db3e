-- include: geohash.lua
-- Shared by every script that changes a report (each names it with `-- include: prelude.lua`).
--
-- ARGV[1] is always the key prefix `rh:{reports}:` (roadhazard.reports.keys.REPORTS_PREFIX).
-- Which indexes a report belongs to is only known here, from its fields, so the index names are
-- built from that prefix; every one shares the {reports} hash tag, so a script stays in one
-- cluster slot. tests/reports/test_lua.py pins the names against roadhazard.reports.keys, OPEN
-- against roadhazard.reports.states.OPEN_STATES and the latitude limit against GEO_MAX_LAT.

local P = ARGV[1]
local OPEN = {confirmed=true, in_progress=true, new=true}

local function status_of(state)
  if OPEN[state] then return 'open' end
  return 'closed'
end

local function load(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local r = {}
  for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end

local function encode_list(items)
  if #items == 0 then return '[]' end
  return cjson.encode(items)
end

local function decode_list(raw)
  if not raw or raw == '' or raw == '{}' then return {} end
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
  local sets = {P .. 'by_time', P .. 'state:' .. r.state,
    P .. 'status:' .. status_of(r.state), P .. 'class:' .. r.token}
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

local function severity_of(r)
  if r.severity == '' then return 'unknown' end
  return r.severity
end

-- The map's cells (roadhazard.reports.clusters): a report with a position counts in its
-- geohash cell at each precision 1..CELL_PRECISIONS, in two hashes: `cell:` keeps the totals an
-- unfiltered map reads (n, the positions summed in microdegrees, counts by class, state and
-- severity); `cell_combos:` keeps the same per class|state|severity, so a filtered map's counts
-- and centroids are over matching reports only. Only a report marked `cells_v` =
-- CELLS_VERSION is in the cells (every report this version writes); older ones are added once
-- by cells_rebuild.lua, so a rebuild and live writes never count a report twice. Fields that
-- reach 0 go, and Redis deletes a hash with its last field: an empty cell is no key at all.
local CELL_PRECISIONS = 7
local CELLS_VERSION = '1'

-- Adds `delta` to each field; a field that reaches 0 goes. `fields`: name, amount pairs.
local function add_all(key, fields)
  for i = 1, #fields, 2 do
    if redis.call('HINCRBY', key, fields[i], fields[i + 1]) == 0 then
      redis.call('HDEL', key, fields[i])
    end
  end
end

local function count_cells(r, delta)
  if r.cells_v ~= CELLS_VERSION or r.lon == '' or not geo_ok(r) then return end
  local lat, lon = tonumber(r.lat), tonumber(r.lon)
  local hash = geohash(lat, lon, CELL_PRECISIONS)
  local severity = severity_of(r)
  local combo = r.code .. '|' .. r.state .. '|' .. severity
  local lat_e6, lon_e6 = delta * microdegrees(lat), delta * microdegrees(lon)
  local totals = {'n', delta, 'lat_e6', lat_e6, 'lon_e6', lon_e6, 'class:' .. r.code, delta,
    'state:' .. r.state, delta, 'severity:' .. severity, delta}
  local combos = {'n:' .. combo, delta, 'lat_e6:' .. combo, lat_e6, 'lon_e6:' .. combo, lon_e6}
  for precision = 1, CELL_PRECISIONS do
    local cell = precision .. ':' .. string.sub(hash, 1, precision)
    add_all(P .. 'cell:' .. cell, totals)
    add_all(P .. 'cell_combos:' .. cell, combos)
  end
end

local function count(r, delta)
  local stats = P .. 'stats'
  local severity = severity_of(r)
  redis.call('HINCRBY', stats, 'total', delta)
  redis.call('HINCRBY', stats, 'state:' .. r.state, delta)
  redis.call('HINCRBY', stats, 'status:' .. status_of(r.state), delta)
  redis.call('HINCRBY', stats, 'class:' .. r.code, delta)
  redis.call('HINCRBY', stats, 'severity:' .. severity, delta)
  if r.conf_micros ~= '' then
    redis.call('HINCRBY', stats, 'conf_micros', delta * tonumber(r.conf_micros))
    redis.call('HINCRBY', stats, 'conf_n', delta)
  end
  count_cells(r, delta)
end

local function store(key, r)
  local flat = {}
  for name, value in pairs(r) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  redis.call('HSET', key, unpack(flat))
end

local function pairs_from(first)
  local given = {}
  for i = first, #ARGV, 2 do given[ARGV[i]] = ARGV[i + 1] end
  return given
end

-- The live feed (roadhazard.reports.events): a script that changes a report adds an event to
-- one Redis Stream in the same atomic step, trimmed to about `maxlen` entries (MAXLEN ~ trims
-- whole nodes: cheap, and never below maxlen). `extra`: more name, value pairs.
local function emit(maxlen, kind, r, now, extra)
  local fields = {'type', kind, 'report_id', r.id, 'code', r.code, 'state', r.state,
    'lat', r.lat or '', 'lon', r.lon or '', 'at', now}
  for i = 1, #extra do fields[#fields + 1] = extra[i] end
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', unpack(fields))
end

local SETTLED = {stored = true, failed = true, resolved = true, not_found = true}

-- What a change of fields means to someone watching the map, in a fixed order; none for a
-- change nobody sees (an address lookup found to have nothing to look up).
local function change_kinds(given)
  local kinds = {}
  if given.confidence then kinds[#kinds + 1] = 'best_frame' end
  if given.description or given.tags or given.severity then kinds[#kinds + 1] = 'details' end
  if given.lat or given.lon then kinds[#kinds + 1] = 'position' end
  if SETTLED[given.address_status] then kinds[#kinds + 1] = 'address' end
  for name, value in pairs(given) do
    if string.match(name, '^image_.+_status$') and SETTLED[value] then
      kinds[#kinds + 1] = 'image'
      break
    end
  end
  return kinds
end

-- Changes the given fields of a report, keeping its stats and indexes in step, and tells the
-- feed what changed.
local function apply_update(key, given, now, maxlen)
  local r = load(key)
  if not r then return 0 end
  if given.last_seen_ms and tonumber(given.last_seen_ms) <= tonumber(r.last_seen_ms) then
    given.last_seen = nil
    given.last_seen_ms = nil
  end
  local after = {}
  for name, value in pairs(r) do after[name] = value end
  local changes = {'updated', now}
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
  local kinds = change_kinds(given)
  if #kinds > 0 then
    emit(maxlen, 'report.updated', after, now, {'changes', table.concat(kinds, ',')})
  end
  return 1
end
