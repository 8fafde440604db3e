-- include: prelude.lua
-- KEYS[1]: the report. ARGV: prefix. Returns 1, or 0 when there was nothing to delete.

local r = load(KEYS[1])
if not r then return 0 end
index(r, false)
count(r, -1)
if r.duplicate_of ~= '' then
  local target_key = P .. 'report:' .. r.duplicate_of
  local kept = {}
  for _, id in ipairs(decode_list(redis.call('HGET', target_key, 'duplicates'))) do
    if id ~= r.id then kept[#kept + 1] = id end
  end
  if redis.call('EXISTS', target_key) == 1 then
    redis.call('HSET', target_key, 'duplicates', encode_list(kept))
  end
end
redis.call('DEL', KEYS[1])
return 1
