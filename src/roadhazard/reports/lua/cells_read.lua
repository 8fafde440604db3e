-- include: clusters.lua
-- The cells' counters (prelude.lua keeps them) over the reports that the filters in ARGV[2..4]
-- let through. ARGV[5]: the precision; ARGV[6..]: the cells' geohashes. One hash read a cell:
-- the cost grows with the cells asked for, never with the reports in them.
-- Returns the cells that hold a match, as clusters.lua's encode_cells writes them.

local cells = {}
for i = 6, #ARGV do
  local flat = redis.call('HGETALL', P .. 'cell:' .. ARGV[5] .. ':' .. ARGV[i])
  if #flat > 0 then
    local fields = {}
    for j = 1, #flat, 2 do fields[flat[j]] = flat[j + 1] end
    local cell = new_cell(ARGV[i])
    for name, count in pairs(fields) do
      if string.sub(name, 1, 2) == 'n:' then
        local combo = string.sub(name, 3)
        -- A class may hold '|'; a state and a severity never do.
        local class, state, severity = string.match(combo, '^(.*)|([^|]*)|([^|]*)$')
        if wanted(class, state, severity) then
          tally(cell, class, state, severity, tonumber(count),
            tonumber(fields['lat_e6:' .. combo]), tonumber(fields['lon_e6:' .. combo]))
        end
      end
    end
    cells[#cells + 1] = cell
  end
end
return encode_cells(cells)
