-- Idempotency records: KEYS[1] is the record. A record is
-- {state: in_flight|done, fp, token, report_id, lease_until, status, body}, JSON.
--
-- ARGV: fingerprint, token, proposed report id, now (ms), lease end (ms), ttl (s).
-- Returns {'new', id} | {'takeover', id} | {'busy'} | {'mismatch'} | {'done', status, body}.

local raw = redis.call('GET', KEYS[1])
if not raw then
  local record = {state = 'in_flight', fp = ARGV[1], token = ARGV[2], report_id = ARGV[3],
    lease_until = ARGV[5]}
  redis.call('SET', KEYS[1], cjson.encode(record), 'EX', ARGV[6])
  return {'new', ARGV[3]}
end
local record = cjson.decode(raw)
if record.fp ~= ARGV[1] then return {'mismatch'} end
if record.state == 'done' then return {'done', record.status, record.body} end
if tonumber(record.lease_until) > tonumber(ARGV[4]) then return {'busy'} end
record.token = ARGV[2]
record.lease_until = ARGV[5]
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return {'takeover', record.report_id}
