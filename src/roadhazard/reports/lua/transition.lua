-- include: prelude.lua
-- KEYS[1]: the report. ARGV: prefix, target state, now (ISO), the event stream's length, then
-- the states the target may be reached from. Returns {'ok', old state} | {'missing'} | {'illegal', current state}.

local r = load(KEYS[1])
if not r then return {'missing'} end
local allowed = false
for i = 5, #ARGV do
  if ARGV[i] == r.state then allowed = true end
end
if not allowed then return {'illegal', r.state} end
local old = r.state
index(r, false)
count(r, -1)
r.state = ARGV[2]
index(r, true)
count(r, 1)
local history = decode_list(r.history)
history[#history + 1] = {state = r.state, at = ARGV[3]}
redis.call('HSET', KEYS[1], 'state', r.state, 'updated', ARGV[3], 'history', cjson.encode(history))
emit(tonumber(ARGV[4]), 'report.updated', r, ARGV[3], {'changes', 'state', 'previous_state', old})
return {'ok', old}
