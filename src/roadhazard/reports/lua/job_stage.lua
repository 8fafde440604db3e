-- Durable job queues (see roadhazard.reports.outbox). KEYS[1] is the job's hash, KEYS[2] its
-- queue. A job's `version` grows each time it is staged again, so a worker that finishes an
-- older version of the job (a better frame arrived, the report was deleted) changes nothing.
--
-- ARGV: job id, due (ms), now (ms), then field/value pairs. Returns the new version.

local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') + 1
redis.call('DEL', KEYS[1])
local fields = {'version', version, 'attempts', 0, 'staged_ms', ARGV[3]}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return version
