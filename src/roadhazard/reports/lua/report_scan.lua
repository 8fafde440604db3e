-- include: clusters.lua
-- For the filters no counter answers (creation time, session, confidence): the reports
-- themselves, from the smallest index that holds every match, and never more than a cap.
-- ARGV[5]: the cap; ARGV[6..9]: a search box covering the area (centre lon, lat, width and
-- height in metres); ARGV[10..13]: the area, min lon, min lat, max lon, max lat; ARGV[14],
-- ARGV[15]: created at or after, and before (Unix ms, '' for open); ARGV[16]: a session id
-- ('' for any); ARGV[17]: the least confidence ('' for any).

local CAP = tonumber(ARGV[5])
local WEST, SOUTH, EAST, NORTH = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]),
  tonumber(ARGV[13])
local MIN_MS, MAX_MS, SESSION, MIN_CONFIDENCE = ARGV[14], ARGV[15], ARGV[16], ARGV[17]
local LOW = MIN_MS == '' and '-inf' or MIN_MS
local HIGH = MAX_MS == '' and '+inf' or '(' .. MAX_MS
local FIELDS = {'lat', 'lon', 'code', 'state', 'severity', 'confidence', 'session_id',
  'created_ms', 'service_name'}
-- GEOPOS answers the centre of Redis's index cell, within 3e-6 degrees of the position.
local SLACK = 1e-5
local CHUNK = 1000 -- members a bulk call takes (Lua's unpack has a limit)

-- Of `ids`, those whose indexed position lies in the area (one GEOPOS a chunk).
local function in_area(ids)
  local kept = {}
  for first = 1, #ids, CHUNK do
    local last = math.min(first + CHUNK - 1, #ids)
    local positions = redis.call('GEOPOS', P .. 'geo_all', unpack(ids, first, last))
    for i = 1, last - first + 1 do
      local position = positions[i]
      if position then
        local lon, lat = tonumber(position[1]), tonumber(position[2])
        if lon >= WEST - SLACK and lon <= EAST + SLACK and lat >= SOUTH - SLACK
            and lat <= NORTH + SLACK then
          kept[#kept + 1] = ids[first + i - 1]
        end
      end
    end
  end
  return kept
end

-- Of `ids`, those in the sorted set `index` (scored by creation time) within the time range.
local function scored_in(ids, index)
  local low, high = tonumber(MIN_MS) or -math.huge, tonumber(MAX_MS) or math.huge
  local kept = {}
  for first = 1, #ids, CHUNK do
    local last = math.min(first + CHUNK - 1, #ids)
    local scores = redis.call('ZMSCORE', index, unpack(ids, first, last))
    for i = 1, last - first + 1 do
      local score = tonumber(scores[i])
      if score and score >= low and score < high then kept[#kept + 1] = ids[first + i - 1] end
    end
  end
  return kept
end

-- The ids that may match, or nil when more than CAP may: the session's reports or those of
-- the time range when there are few enough (the fewer of the two) and in the area, else those
-- in the area, in the session and the time range. Bulk calls sift them before any report is
-- read.
local function candidates()
  local indexes = {}
  if SESSION ~= '' then indexes[#indexes + 1] = P .. 'session:' .. SESSION end
  if MIN_MS ~= '' or MAX_MS ~= '' then indexes[#indexes + 1] = P .. 'by_time' end
  local best, fewest = nil, CAP + 1
  for _, index in ipairs(indexes) do
    local found = redis.call('ZCOUNT', index, LOW, HIGH)
    if found < fewest then best, fewest = index, found end
  end
  if best then return in_area(redis.call('ZRANGEBYSCORE', best, LOW, HIGH)) end
  -- ANY: Redis stops at CAP + 1 instead of collecting the whole box first.
  local ids = redis.call('GEOSEARCH', P .. 'geo_all', 'FROMLONLAT', ARGV[6], ARGV[7],
    'BYBOX', ARGV[8], ARGV[9], 'm', 'COUNT', CAP + 1, 'ANY')
  if #ids > CAP then return nil end
  if indexes[1] then ids = scored_in(ids, indexes[1]) end
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
