-- include: prelude.lua
-- Counts reports written before the map's cells existed into them (roadhazard.reports.clusters
-- runs it in batches). KEYS[1]: by_time (it routes the call). ARGV: prefix, then report ids. A report already counted (its cells_v is
-- CELLS_VERSION) is skipped, so a batch may repeat, or race live writes, without counting a
-- report twice. Returns how many reports were added.

local added = 0
for i = 2, #ARGV do
  local key = P .. 'report:' .. ARGV[i]
  local r = load(key)
  if r and r.cells_v ~= CELLS_VERSION then
    r.cells_v = CELLS_VERSION
    count_cells(r, 1)
    redis.call('HSET', key, 'cells_v', CELLS_VERSION)
    added = added + 1
  end
end
return added
