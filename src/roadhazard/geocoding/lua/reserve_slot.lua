-- KEYS[1]: the next free slot (Redis server time, Unix ms). ARGV: interval (ms), max wait (ms).
-- Reserves the next send slot if it is at most ARGV[2] ms away and returns {1, wait_ms}; else
-- reserves nothing and returns {0, wait_ms}. Redis's clock, not each worker's, so skew between
-- machines cannot break the spacing. The key lives only as long as its slot is in the future.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local wait = slot - now
if wait > max_wait then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', wait + interval + 1000)
return {1, wait}
