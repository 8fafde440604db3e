-- The geohash of a position, character for character what Redis's GEOHASH command answers for
-- a member GEOADD stored there, so a report's cell is the one Redis itself would name.
--
-- Redis snaps a position to its geo index: 26 bits an axis (latitude over ±85.05112878),
-- interleaved and kept as a sorted-set score, a double. GEOHASH decodes that score, takes the
-- centre of its index cell and encodes it as a standard geohash (latitude over ±90). The same
-- steps here, in the same floating-point order, agree with it at the edges too: longitude 180
-- gives index 2^26, a score of 2^53 or more that the double rounds, and comes out in the
-- column of -180 (Redis's encoding wraps there). tests/reports/test_cells.py checks this
-- against GEOHASH for random points and on both sides of cell borders.

local GEO_LAT_LIMIT = 85.05112878
local GEO_STEPS = 67108864 -- 2^26 index cells per axis
local GEOHASH_ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz'

-- Integers are exact in a double up to 2^53, and these loops only halve and add powers of two.
local function spread(index) -- the bits of `index` at the even positions
  local out, weight = 0, 1
  while index > 0 do
    local bit = index % 2
    out, index, weight = out + bit * weight, (index - bit) / 2, weight * 4
  end
  return out
end

local function gather(value) -- the bits of `value` at the even positions, packed
  local out, weight = 0, 1
  while value > 0 do
    out, value, weight = out + (value % 2) * weight, math.floor(value / 4), weight * 2
  end
  return out
end

local function index_cell(value, low, high)
  return math.floor((value - low) / (high - low) * GEO_STEPS)
end

local function cell_centre(cell, low, high)
  local first = low + (cell / GEO_STEPS) * (high - low)
  local last = low + ((cell + 1) / GEO_STEPS) * (high - low)
  return math.max(low, math.min(high, (first + last) / 2))
end

-- The first `chars` (1..10) characters of the geohash of the position lat, lon.
local function geohash(lat, lon, chars)
  -- One addition, rounded once, as Redis's conversion of its 64-bit hash to a score is.
  local score = spread(index_cell(lat, -GEO_LAT_LIMIT, GEO_LAT_LIMIT))
    + 2 * spread(index_cell(lon, -180, 180))
  local centre_lat = cell_centre(gather(score), -GEO_LAT_LIMIT, GEO_LAT_LIMIT)
  local centre_lon = cell_centre(gather(math.floor(score / 2)), -180, 180)
  local lat_bits = math.floor((centre_lat + 90) / 180 * GEO_STEPS)
  -- 2^26 (a centre on 180) loses its top bit, which lies outside the hash.
  local lon_bits = math.floor((centre_lon + 180) / 360 * GEO_STEPS) % GEO_STEPS
  local out, value = {}, 0
  local lon_weight, lat_weight = GEO_STEPS / 2, GEO_STEPS / 2
  for bit = 0, chars * 5 - 1 do
    if bit % 2 == 0 then
      value, lon_weight = value * 2 + math.floor(lon_bits / lon_weight) % 2, lon_weight / 2
    else
      value, lat_weight = value * 2 + math.floor(lat_bits / lat_weight) % 2, lat_weight / 2
    end
    if bit % 5 == 4 then
      out[#out + 1] = string.sub(GEOHASH_ALPHABET, value + 1, value + 1)
      value = 0
    end
  end
  return table.concat(out)
end

-- A coordinate in whole millionths of a degree: the cells sum integers, so a centroid is exact
-- however many reports come and go.
local function microdegrees(value)
  return math.floor(value * 1e6 + 0.5)
end
