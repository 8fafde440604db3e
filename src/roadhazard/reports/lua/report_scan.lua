-- include: clusters.lua
-- For the filters no counter answers (creation time, session, confidence): the reports
-- themselves, from the smallest index that holds every match, and never more than a cap.
-- ARGV[5]: the cap; ARGV[6..9]: a search box covering the area (centre lon, lat, width and
-- height in metres); ARGV[10], ARGV[11]: created at or after, and before (Unix ms, '' for
-- open); ARGV[12]: a session id ('' for any); ARGV[13]: the least confidence ('' for any).

local CAP = tonumber(ARGV[5])
local MIN_MS, MAX_MS, SESSION, MIN_CONFIDENCE = ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local FIELDS = {'lat', 'lon', 'code', 'state', 'severity', 'confidence', 'session_id',
  'created_ms', 'service_name'}

-- The ids that may match, or nil when more than CAP may: the session's reports or those of
-- the time range when there are few enough (the fewer of the two), else those in the box.
local function candidates()
  local low = MIN_MS == '' and '-inf' or MIN_MS
  local high = MAX_MS == '' and '+inf' or '(' .. MAX_MS
  local indexes = {}
  if SESSION ~= '' then indexes[#indexes + 1] = P .. 'session:' .. SESSION end
  if MIN_MS ~= '' or MAX_MS ~= '' then indexes[#indexes + 1] = P .. 'by_time' end
  local best, fewest = nil, CAP + 1
  for _, index in ipairs(indexes) do
    local found = redis.call('ZCOUNT', index, low, high)
    if found < fewest then best, fewest = index, found end
  end
  if best then return redis.call('ZRANGEBYSCORE', best, low, high) end
  -- ANY: Redis stops at CAP + 1 instead of collecting the whole box first.
  local ids = redis.call('GEOSEARCH', P .. 'geo_all', 'FROMLONLAT', ARGV[6], ARGV[7],
    'BYBOX', ARGV[8], ARGV[9], 'm', 'COUNT', CAP + 1, 'ANY')
  if #ids > CAP then return nil end
  return ids
end

local function confident(confidence)
  if MIN_CONFIDENCE == '' then return true end
  local value = tonumber(confidence)
  return value ~= nil and value >= tonumber(MIN_CONFIDENCE)
end

local function in_time(created)
  return (MIN_MS == '' or created >= tonumber(MIN_MS)) and (MAX_MS == '' or created < tonumber(MAX_MS))
end

-- The report's fields when it has a position Redis can index and passes every filter.
local function matching(id)
  local v = redis.call('HMGET', P .. 'report:' .. id, unpack(FIELDS))
  local lat, lon, created = tonumber(v[1]), tonumber(v[2]), tonumber(v[8])
  if not (lat and lon and created) or math.abs(lat) > GEO_LAT_LIMIT then return nil end
  local severity = v[5]
  if severity == '' then severity = 'unknown' end
  if not (wanted(v[3], v[4], severity) and in_time(created) and confident(v[6])
      and (SESSION == '' or v[7] == SESSION)) then
    return nil
  end
  return {id = id, lat = lat, lon = lon, code = v[3], state = v[4], severity = severity,
    confidence = v[6], service_name = v[9]}
end
