-- Counts a frame once, however often it is retried, and refreshes every key's TTL.
--
-- KEYS: 1 meta, 2 retry key of this frame, 3.. every other key of the session
-- ARGV: 1 capture time, 2 detections, 3 session ttl s, 4 retry ttl s, 5 stored answer,
--       6 now (Unix s)
-- Returns 'counted', 'replayed' or 'missing'.

if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local fresh = redis.call('SET', KEYS[2], ARGV[5], 'NX', 'EX', ARGV[4])
local ts = tonumber(ARGV[1])
if fresh then
  redis.call('HINCRBY', KEYS[1], 'frames', 1)
  redis.call('HINCRBY', KEYS[1], 'detections', ARGV[2])
  local first = tonumber(redis.call('HGET', KEYS[1], 'first_frame'))
  if first == nil or ts < first then redis.call('HSET', KEYS[1], 'first_frame', ARGV[1]) end
  local last = tonumber(redis.call('HGET', KEYS[1], 'last_frame'))
  if last == nil or ts > last then redis.call('HSET', KEYS[1], 'last_frame', ARGV[1]) end
end
redis.call('HSET', KEYS[1], 'last_activity', ARGV[6])
for i, key in ipairs(KEYS) do
  if i ~= 2 then redis.call('EXPIRE', key, ARGV[3]) end
end
if fresh then return 'counted' end
return 'replayed'
