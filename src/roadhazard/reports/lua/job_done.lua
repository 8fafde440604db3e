-- include: prelude.lua
-- KEYS: 1 the job's hash, 2 its queue, 3 the job's report.
-- ARGV: prefix, job id, version, now (ISO), the event stream's length, then report fields to set.
-- Returns 1 (done, report updated), 0 (done, the report is gone), -1 (stale version).

if redis.call('HGET', KEYS[1], 'version') ~= ARGV[3] then return -1 end
local result = 0
local given = pairs_from(6)
if next(given) then
  result = apply_update(KEYS[3], given, ARGV[4], tonumber(ARGV[5]))
  if type(result) == 'table' then return result end
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  result = 1
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return result
