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

-- A geohash character holds 5 bits, alternately longitude's and latitude's: the even
-- characters (0, 2, ...) 3 of longitude and 2 of latitude, the odd ones 2 and 3.
local EVEN_CHARS, ODD_CHARS = {}, {}
for code = 0, 31 do
  local b4, b3, b2, b1, b0 = math.floor(code / 16) % 2, math.floor(code / 8) % 2,
    math.floor(code / 4) % 2, math.floor(code / 2) % 2, code % 2
  local char = string.sub(GEOHASH_ALPHABET, code + 1, code + 1)
  EVEN_CHARS[(b4 * 4 + b2 * 2 + b0) * 4 + b3 * 2 + b1] = char -- lon b4 b2 b0, lat b3 b1
  ODD_CHARS[(b4 * 4 + b2 * 2 + b0) * 4 + b3 * 2 + b1] = char -- lat b4 b2 b0, lon b3 b1
end

-- The centres of the index cells Redis stores lat, lon in. Below longitude 180 the score is
-- under 2^53, exact, and decodes to the same cells; at 180 it goes through the double.
local function stored_centre(lat, lon)
  local lat_cell = index_cell(lat, -GEO_LAT_LIMIT, GEO_LAT_LIMIT)
  local lon_cell = index_cell(lon, -180, 180)
  if lon_cell >= GEO_STEPS then
    -- One addition, rounded once, as Redis's conversion of its 64-bit hash to a score is.
    local score = spread(lat_cell) + 2 * spread(lon_cell)
    lat_cell, lon_cell = gather(score), gather(math.floor(score / 2))
  end
  return cell_centre(lat_cell, -GEO_LAT_LIMIT, GEO_LAT_LIMIT), cell_centre(lon_cell, -180, 180)
end

-- The first `chars` (1..10) characters of the geohash of the position lat, lon.
local function geohash(lat, lon, chars)
  local centre_lat, centre_lon = stored_centre(lat, lon)
  local lat_bits = math.floor((centre_lat + 90) / 180 * GEO_STEPS)
  -- 2^26 (a centre on 180) loses its top bit, which lies outside the hash.
  local lon_bits = math.floor((centre_lon + 180) / 360 * GEO_STEPS) % GEO_STEPS
  local out, lon_left, lat_left = {}, 26, 26 -- bits of each axis not yet used
  for index = 1, chars do
    local lon_take, lat_take, table_of = 3, 2, EVEN_CHARS
    if index % 2 == 0 then lon_take, lat_take, table_of = 2, 3, ODD_CHARS end
    lon_left, lat_left = lon_left - lon_take, lat_left - lat_take
    local lon_part = math.floor(lon_bits / 2 ^ lon_left) % 2 ^ lon_take
    local lat_part = math.floor(lat_bits / 2 ^ lat_left) % 2 ^ lat_take
    if index % 2 == 1 then
      out[index] = table_of[lon_part * 4 + lat_part]
    else
      out[index] = table_of[lat_part * 4 + lon_part]
    end
  end
  return table.concat(out)
end

-- A coordinate in whole millionths of a degree: the cells sum integers, so a centroid is exact
-- however many reports come and go.
local function microdegrees(value)
  return math.floor(value * 1e6 + 0.5)
end
