-- include: geohash.lua
-- Shared by the map's scripts (cells_read.lua, cells_scan.lua, points.lua), which only read.
-- KEYS[1] is geo_all, only so that a cluster client sends them to the {reports} slot's node.
-- ARGV[1] is the key prefix, as in prelude.lua; ARGV[2..4] are the filters the cells' counters
-- answer: the states let through (comma-separated, '' for all), a class code ('' for any) and
-- a severity ('' for any, 'unknown' for none).

local P = ARGV[1]
local ANY_STATE, STATES, CLASS, SEVERITY = ARGV[2] == '', {}, ARGV[3], ARGV[4]
for state in string.gmatch(ARGV[2], '[^,]+') do STATES[state] = true end

local function wanted(class, state, severity)
  return (ANY_STATE or STATES[state] == true) and (CLASS == '' or class == CLASS)
    and (SEVERITY == '' or severity == SEVERITY)
end

local function new_cell(geohash)
  return {geohash = geohash, n = 0, lat = 0, lon = 0, by_class = {}, by_state = {}, by_severity = {}}
end

local function add_to(counts, name, n)
  counts[name] = (counts[name] or 0) + n
end

-- Adds `n` reports of one class|state|severity, their positions summed in microdegrees.
local function tally(cell, class, state, severity, n, lat_e6, lon_e6)
  cell.n, cell.lat, cell.lon = cell.n + n, cell.lat + lat_e6, cell.lon + lon_e6
  add_to(cell.by_class, class, n)
  add_to(cell.by_state, state, n)
  add_to(cell.by_severity, severity, n)
end

-- The reply: a JSON array of [geohash, count, lat sum, lon sum, by class, by state, by severity]
-- for the cells with a matching report; the sums as decimal strings, since cjson would round
-- numbers to 14 digits.
local function encode_cells(cells)
  local out = {}
  for _, cell in ipairs(cells) do
    if cell.n > 0 then
      out[#out + 1] = {cell.geohash, cell.n, string.format('%.0f', cell.lat),
        string.format('%.0f', cell.lon), cell.by_class, cell.by_state, cell.by_severity}
    end
  end
  if #out == 0 then return '[]' end
  return cjson.encode(out)
end
