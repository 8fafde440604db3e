-- Ends a session once; ending it again changes nothing and is not an error.
--
-- KEYS: 1 meta, 2.. every other key of the session
-- ARGV: 1 now (Unix s), 2 session ttl s
-- Returns 'ended', 'already' or 'missing'.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ARGV[2]) end
if state ~= 'active' then return 'already' end
redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_at', ARGV[1], 'last_activity', ARGV[1])
return 'ended'
