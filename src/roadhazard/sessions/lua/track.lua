-- Decides, for one detection, which track it belongs to, or opens one.
--
-- KEYS: 1 meta, 2 tracks, 3 class geo set, 4 class recent zset, 5 frame claims, 6 reported,
--       7 classes
-- ARGV: 1 proposed report id, 2 capture time, 3 window s, 4 confidence,
--       5-8 box x1 y1 x2 y2 as fractions of the image, 9 image width, 10 image height,
--       11 '1' with GPS, 12 lon, 13 lat, 14 radius m, 15 session ttl s, 16 claims ttl s,
--       17 class label for the stats, 18 class key, 19 IoU that matches,
--       20 centre gap that matches, as a fraction of the image diagonal
-- Returns {'ok', report id, is_new, improved, pending} or {'missing'} / {'ended'}.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if state ~= 'active' then return {'ended'} end

local ts = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local conf = tonumber(ARGV[4])
local box = {tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])}
local width, height = tonumber(ARGV[9]), tonumber(ARGV[10])
local has_gps = ARGV[11] == '1'
local lon, lat = tonumber(ARGV[12]), tonumber(ARGV[13])
local iou_min = tonumber(ARGV[19])
local max_gap = tonumber(ARGV[20]) * math.sqrt(width * width + height * height)

local function iou(a, b)
  local w = math.min(a[3], b[3]) - math.max(a[1], b[1])
  local h = math.min(a[4], b[4]) - math.max(a[2], b[2])
  if w <= 0 or h <= 0 then return 0 end
  local inter = w * h
  local union = (a[3] - a[1]) * (a[4] - a[2]) + (b[3] - b[1]) * (b[4] - b[2]) - inter
  if union <= 0 then return 0 end
  return inter / union
end

local function centre_gap(a, b)
  local dx = ((a[1] + a[3]) - (b[1] + b[3])) / 2 * width
  local dy = ((a[2] + a[4]) - (b[2] + b[4])) / 2 * height
  return math.sqrt(dx * dx + dy * dy)
end

-- Ranks compare lexicographically: looks alike in the image first, then IoU, then nearness.
local function better(a, b)
  if b == nil then return true end
  for i = 1, 3 do
    if a[i] ~= b[i] then return a[i] > b[i] end
  end
  return false
end

local near = {}
if has_gps then
  local hits = redis.call('GEOSEARCH', KEYS[3], 'FROMLONLAT', lon, lat,
    'BYRADIUS', ARGV[14], 'm', 'WITHDIST')
  for _, hit in ipairs(hits) do near[hit[1]] = tonumber(hit[2]) end
end

local best_id, best_track, best_rank
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], ts - window, '+inf')) do
  if redis.call('SISMEMBER', KEYS[5], id) == 0 then
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      local track = cjson.decode(raw)
      if ts >= track.first - window then
        local overlap = iou(box, track.box)
        local gap = centre_gap(box, track.box)
        local alike = overlap >= iou_min or gap <= max_gap
        local eligible, distance
        if has_gps then
          distance = near[id]
          -- A track opened while GPS was missing can still be joined by how it looks.
          eligible = distance ~= nil or (track.lat == nil and alike)
          distance = distance or math.huge
        else
          eligible = alike
          distance = gap
        end
        if eligible then
          local rank = {alike and 1 or 0, alike and overlap or 0, -distance}
          if better(rank, best_rank) then
            best_id, best_track, best_rank = id, track, rank
          end
        end
      end
    end
  end
end

local id, track, is_new, improved
if best_id then
  id, track, is_new = best_id, best_track, 0
  track.n = track.n + 1
  if ts >= track.last then
    track.last = ts
    track.box = box
  end
  if ts < track.first then track.first = ts end
  improved = conf > track.best and 1 or 0
  if improved == 1 then track.best = conf end
  if has_gps then
    -- A running mean: GPS jitter around a pothole that does not move averages out.
    local fixes = (track.fixes or 0) + 1
    if track.lat == nil then
      track.lat, track.lon = lat, lon
    else
      track.lat = track.lat + (lat - track.lat) / fixes
      track.lon = track.lon + (lon - track.lon) / fixes
    end
    track.fixes = fixes
  end
else
  -- A new track's only sighting is its best so far.
  id, is_new, improved = ARGV[1], 1, 1
  track = {first = ts, last = ts, best = conf, box = box, n = 1}
  if has_gps then
    track.lat, track.lon, track.fixes = lat, lon, 1
  end
  redis.call('HINCRBY', KEYS[1], 'hazards', 1)
  redis.call('HINCRBY', KEYS[1], 'hazards:' .. ARGV[17], 1)
  redis.call('SADD', KEYS[7], ARGV[18])
end

if track.lat ~= nil then redis.call('GEOADD', KEYS[3], track.lon, track.lat, id) end
redis.call('HSET', KEYS[2], id, cjson.encode(track))
redis.call('ZADD', KEYS[4], track.last, id)
redis.call('SADD', KEYS[5], id)
redis.call('EXPIRE', KEYS[5], ARGV[16])
for i, key in ipairs(KEYS) do
  if i ~= 5 then redis.call('EXPIRE', key, ARGV[15]) end
end
local pending = redis.call('SISMEMBER', KEYS[6], id) == 0 and 1 or 0
return {'ok', id, is_new, improved, pending}
