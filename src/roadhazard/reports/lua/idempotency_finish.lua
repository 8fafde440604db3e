-- KEYS[1]: the idempotency record. ARGV: token, status, body, ttl (s).
-- Only the request holding the lease may finish it.

local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.token ~= ARGV[1] then return 0 end
record.state = 'done'
record.status = ARGV[2]
record.body = ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(record), 'EX', ARGV[4])
return 1
