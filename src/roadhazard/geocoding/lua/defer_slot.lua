-- KEYS[1]: the next free slot. ARGV: delay (ms).
-- Moves the next slot to at least ARGV[1] ms from now: the provider asked everyone to back off.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local target = now + tonumber(ARGV[1])
if target > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%d', target), 'PX', tonumber(ARGV[1]) + 1000)
end
return 0
