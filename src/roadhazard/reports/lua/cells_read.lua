-- include: clusters.lua
-- The cells' counters (prelude.lua keeps them) over the reports that the filters in ARGV[2..4]
-- let through. ARGV[5]: the precision; ARGV[6..]: the cells' geohashes. One hash read a cell:
-- the cost grows with the cells asked for, never with the reports in them. Without filters
-- that is the cell's totals (a dozen fields); with filters, its class|state|severity
-- combinations (up to classes x states x severities, three fields each).
-- Returns the cells that hold a match, as clusters.lua's encode_cells writes them.

local FILTERED = not ANY_STATE or CLASS ~= '' or SEVERITY ~= ''
local N, LAT, LON = string.byte('n'), string.byte('lat_e6', 2), string.byte('lon_e6', 2)

-- Each combination's parts when the filters let it through, else false: the same few dozen
-- combinations recur in every cell, so each is parsed once a call.
local parsed = {}
local function parts(combo)
  local found = parsed[combo]
  if found == nil then
    -- A class may hold '|'; a state and a severity never do.
    local class, state, severity = string.match(combo, '^(.*)|([^|]*)|([^|]*)$')
    found = class ~= nil and wanted(class, state, severity) and {class, state, severity}
    parsed[combo] = found
  end
  return found
end

local function from_totals(cell, flat)
  local counts = {by_class = cell.by_class, by_state = cell.by_state, by_severity = cell.by_severity}
  local groups = {class = 'by_class', state = 'by_state', severity = 'by_severity'}
  for j = 1, #flat, 2 do
    local name, value = flat[j], tonumber(flat[j + 1])
    if name == 'n' then cell.n = value
    elseif name == 'lat_e6' then cell.lat = value
    elseif name == 'lon_e6' then cell.lon = value
    else
      local group, key = string.match(name, '^(%a+):(.*)$')
      if groups[group] then counts[groups[group]][key] = value end
    end
  end
end

local function from_combos(cell, flat)
  local counts, lats, lons = {}, {}, {}
  for j = 1, #flat, 2 do
    local name = flat[j]
    local first, second = string.byte(name, 1, 2)
    if first == N then
      counts[string.sub(name, 3)] = tonumber(flat[j + 1])
    elseif second == LAT then
      lats[string.sub(name, 8)] = tonumber(flat[j + 1])
    elseif second == LON then
      lons[string.sub(name, 8)] = tonumber(flat[j + 1])
    end
  end
  for combo, count in pairs(counts) do
    local found = parts(combo)
    if found then
      tally(cell, found[1], found[2], found[3], count, lats[combo] or 0, lons[combo] or 0)
    end
  end
end

local function cell_key(geohash)
  if FILTERED then return P .. 'cell_combos:' .. ARGV[5] .. ':' .. geohash end
  return P .. 'cell:' .. ARGV[5] .. ':' .. geohash
end

local cells = {}
for i = 6, #ARGV do
  local flat = redis.call('HGETALL', cell_key(ARGV[i]))
  if #flat > 0 then
    local cell = new_cell(ARGV[i])
    if FILTERED then from_combos(cell, flat) else from_totals(cell, flat) end
    cells[#cells + 1] = cell
  end
end
return encode_cells(cells)
