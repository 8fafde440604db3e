-- include: roadhazard.reports:geohash.lua
-- One frame's position: the session's track, its passes and the cells it lies in.
--
-- KEYS[1]: the session's passes (hash), KEYS[2]: its track (sorted set); both share the
-- {coverage} tag with the cells, whose keys are built from the prefix ARGV[1].
-- ARGV: 1 prefix, 2 lat, 3 lon, 4 heading ('' when unknown), 5 capture ms, 6 now ms,
-- 7 session id, 8 pass gap ms, 9 retention ms, 10 session TTL ms, 11 track cap,
-- 12 sessions kept a cell, 13 spans kept a cell, 14.. the precisions (finest first).
-- Reply: 1 when the frame began a new pass of its finest cell, else 0; -1 when it is older
-- than the retention: only its track point is kept.

local P, lat, lon, heading = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local t, now, session = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local gap, retention, session_ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local track_cap, sessions_kept, spans_kept = tonumber(ARGV[11]), tonumber(ARGV[12]),
  tonumber(ARGV[13])

-- The track keeps every located frame; the cells only those within the retention.
redis.call('ZADD', KEYS[2], t, string.format('%d,%.6f,%.6f,%s', t, lat, lon, heading))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(track_cap + 1))
redis.call('PEXPIRE', KEYS[2], session_ttl)
if t + retention <= now then return -1 end

-- A session's passes through a cell are spans of capture time; a frame within `gap` of a span
-- belongs to it, whatever order frames arrive in. Spans are "first:last,first:last".
local function decode_spans(raw)
  local spans = {}
  if raw then
    for first, last in string.gmatch(raw, '(%d+):(%d+)') do
      spans[#spans + 1] = {tonumber(first), tonumber(last)}
    end
  end
  return spans
end

local function encode_spans(spans)
  local parts = {}
  for i, span in ipairs(spans) do parts[i] = string.format('%d:%d', span[1], span[2]) end
  return table.concat(parts, ',')
end

-- True when `t` begins a new pass of the session through `cell`.
local function visit(cell)
  local spans = decode_spans(redis.call('HGET', KEYS[1], cell))
  local joined = nil
  for _, span in ipairs(spans) do
    if t >= span[1] - gap and t <= span[2] + gap then
      span[1], span[2] = math.min(span[1], t), math.max(span[2], t)
      joined = span
      break
    end
  end
  if not joined then
    spans[#spans + 1] = {t, t}
    -- Bounded: the spans that ended earliest go first.
    table.sort(spans, function(a, b) return a[2] < b[2] end)
    while #spans > spans_kept do table.remove(spans, 1) end
  end
  redis.call('HSET', KEYS[1], cell, encode_spans(spans))
  return joined == nil
end

-- The cell's recent sessions, most recent pass last, at most `sessions_kept`.
local function with_session(raw)
  local kept = {}
  if raw then
    for id in string.gmatch(raw, '[^,]+') do
      if id ~= session then kept[#kept + 1] = id end
    end
  end
  kept[#kept + 1] = session
  while #kept > sessions_kept do table.remove(kept, 1) end
  return table.concat(kept, ',')
end

local function scan(cell, new_pass)
  local key = P .. 'cell:' .. cell
  local found = redis.call('HMGET', key, 'last_ms', 'sessions')
  local last = tonumber(found[1])
  if new_pass then
    redis.call('HINCRBY', key, 'passes', 1)
    redis.call('HSET', key, 'sessions', with_session(found[2]))
  end
  if last == nil or t > last then
    redis.call('HSET', key, 'last_ms', t)
    -- Kept for the retention after its latest scan, as the service's clock counts.
    redis.call('PEXPIRE', key, t + retention - now)
  end
end

local finest_new = 0
for i = 14, #ARGV do
  local cell = geohash(lat, lon, tonumber(ARGV[i]))
  local new_pass = visit(cell)
  if i == 14 and new_pass then finest_new = 1 end
  scan(cell, new_pass)
end

redis.call('PEXPIRE', KEYS[1], session_ttl)
return finest_new
