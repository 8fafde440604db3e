-- include: report_scan.lua
-- The cells over the reports themselves, for filters the counters cannot answer (see
-- report_scan.lua for ARGV[1..17]). ARGV[18]: the precision; ARGV[19..]: the cells' geohashes.
-- Returns {'ok', the cells with a match as clusters.lua's encode_cells writes them}, or
-- {'overflow'} when more reports than the cap may match.

local cells, found = {}, {}
for i = 19, #ARGV do cells[ARGV[i]] = false end
local ids = candidates()
if not ids then return {'overflow'} end
for _, id in ipairs(ids) do
  local r = matching(id)
  if r then
    local hash = geohash(r.lat, r.lon, tonumber(ARGV[18]))
    local cell = cells[hash]
    if cell == false then
      cell = new_cell(hash)
      cells[hash] = cell
      found[#found + 1] = cell
    end
    if cell then
      tally(cell, r.code, r.state, r.severity, 1, microdegrees(r.lat), microdegrees(r.lon))
    end
  end
end
return {'ok', encode_cells(found)}
