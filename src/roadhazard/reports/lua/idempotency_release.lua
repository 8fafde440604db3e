-- KEYS[1]: the idempotency record. ARGV: token.
-- Ends the lease early, so a retry takes over at once with the same report id.

local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.token ~= ARGV[1] or record.state ~= 'in_flight' then return 0 end
record.lease_until = '0'
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
