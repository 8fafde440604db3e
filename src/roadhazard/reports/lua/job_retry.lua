-- KEYS: 1 the job's hash, 2 its queue. ARGV: job id, version, next due (ms), the error.
-- Returns 1, or 0 for a stale version (the job was staged again meanwhile and is already due).

if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
