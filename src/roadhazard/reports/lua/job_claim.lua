-- KEYS[1] is the queue. ARGV: now (ms), lease end (ms), limit. Returns the due job ids, each
-- now leased: another worker skips it until the lease ends, and a crashed worker's job comes
-- back when it does.

local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
