-- include: clusters.lua
-- The cells' counters (prelude.lua keeps them) over the reports that the filters in ARGV[2..4]
-- let through. ARGV[5]: the precision; ARGV[6..]: the cells' geohashes. The cost grows with
-- the cells asked for, never with the reports in them: without filters, one read of a cell's
-- totals (a dozen fields); with filters, the totals name the classes, states and severities
-- present, and only the combinations of those that the filters allow are read (three fields
-- each) from the cell's combinations hash.
-- Returns the cells that hold a match, as clusters.lua's encode_cells writes them.

local FILTERED = not ANY_STATE or CLASS ~= '' or SEVERITY ~= ''

local function totals_key(geohash)
  return P .. 'cell:' .. ARGV[5] .. ':' .. geohash
end

local function combos_key(geohash)
  return P .. 'cell_combos:' .. ARGV[5] .. ':' .. geohash
end

local function from_totals(cell, flat)
  local groups = {class = cell.by_class, state = cell.by_state, severity = cell.by_severity}
  for j = 1, #flat, 2 do
    local name, value = flat[j], tonumber(flat[j + 1])
    if name == 'n' then cell.n = value
    elseif name == 'lat_e6' then cell.lat = value
    elseif name == 'lon_e6' then cell.lon = value
    else
      local group, key = string.match(name, '^(%a+):(.*)$')
      if groups[group] then groups[group][key] = value end
    end
  end
end

-- The classes, states and severities the cell's totals name that the filters let through.
local function present(totals)
  local named = {class = {}, state = {}, severity = {}}
  for j = 1, #totals, 2 do
    local group, key = string.match(totals[j], '^(%a+):(.*)$')
    local found = named[group]
    if found and ((group == 'class' and (CLASS == '' or key == CLASS))
        or (group == 'state' and (ANY_STATE or STATES[key]))
        or (group == 'severity' and (SEVERITY == '' or key == SEVERITY))) then
      found[#found + 1] = key
    end
  end
  return named, #named.class * #named.state * #named.severity
end

-- Every class|state|severity of `named`'s lists.
local function combos_of(named)
  local combos = {}
  for _, class in ipairs(named.class) do
    for _, state in ipairs(named.state) do
      for _, severity in ipairs(named.severity) do
        combos[#combos + 1] = {class, state, severity, class .. '|' .. state .. '|' .. severity}
      end
    end
  end
  return combos
end

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

-- The filtered cell from every combination it holds (HGETALL), those the filters refuse left.
local N, LAT, LON = string.byte('n'), string.byte('lat_e6', 2), string.byte('lon_e6', 2)
local function from_all_combos(cell, geohash)
  local flat = redis.call('HGETALL', combos_key(geohash))
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

-- The filtered cell from the allowed combinations' three fields (HMGET, a chunk at a time).
local function from_combos(cell, geohash, combos)
  for first = 1, #combos, 1000 do
    local names = {}
    for i = first, math.min(first + 999, #combos) do
      local combo = combos[i][4]
      names[#names + 1] = 'n:' .. combo
      names[#names + 1] = 'lat_e6:' .. combo
      names[#names + 1] = 'lon_e6:' .. combo
    end
    local values = redis.call('HMGET', combos_key(geohash), unpack(names))
    for i = first, math.min(first + 999, #combos) do
      local at = (i - first) * 3
      local count = tonumber(values[at + 1])
      if count then
        local parts = combos[i]
        tally(cell, parts[1], parts[2], parts[3], count, tonumber(values[at + 2]) or 0,
          tonumber(values[at + 3]) or 0)
      end
    end
  end
end

local cells = {}
for i = 6, #ARGV do
  local geohash = ARGV[i]
  local totals = redis.call('HGETALL', totals_key(geohash))
  if #totals > 0 then
    local cell = new_cell(geohash)
    if FILTERED then
      -- Asking for the allowed combinations by name costs about four times as much a field
      -- as reading them all (the names are built here): it pays for narrow filters only.
      local named, allowed = present(totals)
      if allowed == 0 then
        -- no class, state or severity the filters want is in this cell
      elseif allowed * 3 * 4 <= redis.call('HLEN', combos_key(geohash)) then
        from_combos(cell, geohash, combos_of(named))
      else
        from_all_combos(cell, geohash)
      end
    else
      from_totals(cell, totals)
    end
    cells[#cells + 1] = cell
  end
end
return encode_cells(cells)
