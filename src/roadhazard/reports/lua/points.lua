-- include: report_scan.lua
-- Single reports for a street-level map (see report_scan.lua for ARGV[1..17]; the area is the
-- map's box). Returns {'ok', a JSON array of [id, lon, lat (exact decimal strings), class
-- code, service name, state, severity, confidence]}, or {'overflow'} when more reports than
-- the cap may match.

local ids = candidates()
if not ids then return {'overflow'} end
local rows = {}
for _, id in ipairs(ids) do
  local r = matching(id)
  if r and r.lon >= WEST and r.lon <= EAST and r.lat >= SOUTH and r.lat <= NORTH then
    rows[#rows + 1] = {r.id, string.format('%.17g', r.lon), string.format('%.17g', r.lat), r.code, r.service_name, r.state, r.severity,
      r.confidence}
  end
end
if #rows == 0 then return {'ok', '[]'} end
return {'ok', cjson.encode(rows)}
