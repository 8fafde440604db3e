-- Checks and counts one request, atomically, whichever process sends it.
--
-- Algorithm: the two-window weighted counter ("sliding window counter"). A client's hash holds
-- the index of the current fixed window (`w`), its count (`c`) and the previous window's count
-- (`p`). A request is admitted while
--
--     p * (the share of the previous window still inside the sliding window) + c + 1 <= limit
--
-- which assumes the previous window's requests were spread evenly, so at a window's edge it can
-- be off by a few requests in either direction. The exact alternative, a sorted-set log of every
-- admitted request, costs one entry per request: at the frame limit that is 600 entries (tens
-- of KB) for every dashcam, and trimming it is O(log n) work per request. Abuse protection does
-- not need exactness to the request; it does need memory per client that is small and constant.
--
-- All arithmetic is in integer milliseconds, scaled by the window length, so that it is exact in
-- Lua's doubles and the wait it reports is the exact first millisecond that would be admitted.
--
-- A refused request is not counted: a client that waits as long as it is told gets in.
--
-- KEYS[1]: one client's counts in one group.
-- ARGV: limit, window (ms), now (ms; empty for the Redis server's clock).
-- Returns {admitted (1 or 0), remaining, wait (ms)}: for an admitted request the wait is until
-- the current window closes, for a refused one until the first request would be admitted.

local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  -- One clock for every process on every host. Since Redis 5, scripts replicate their effects,
  -- not the script, so reading TIME before writing is allowed and replicas stay consistent.
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local index = math.floor(now / window)
local saved = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w, cur, prev = tonumber(saved[1]), tonumber(saved[2]) or 0, tonumber(saved[3]) or 0
if w and w > index then
  -- The clock stepped back: keep counting in the newer window rather than forget it.
  index = w
  now = index * window
elseif w ~= index then
  if w == index - 1 then prev = cur else prev = 0 end
  cur = 0
end
local elapsed = now - index * window

-- Everything below is multiplied by the window, to stay in integers.
local used = prev * (window - elapsed) + cur * window
if used + window <= limit * window then
  cur = cur + 1
  redis.call('HSET', KEYS[1], 'w', index, 'c', cur, 'p', prev)
  -- This window's count still weighs on the next window, and is forgotten after it.
  redis.call('PEXPIRE', KEYS[1], 2 * window - elapsed)
  return {1, math.floor((limit * window - used - window) / window), window - elapsed}
end

-- Later in this window, the previous window's share has shrunk enough ...
if prev > 0 and cur < limit then
  local at = window - math.floor((limit - cur - 1) * window / prev)
  if at < window then return {0, 0, at - elapsed} end
end
-- ... or else in the next window, where this window's count is the share that shrinks.
local at = 0
if cur > 0 then at = math.max(0, window - math.floor((limit - 1) * window / cur)) end
return {0, 0, window - elapsed + at}
