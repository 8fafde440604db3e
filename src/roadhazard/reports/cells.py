"""Geohash cells for the map: the precision a zoom gets, the cells that cover a box, and where a
cell lies. Arithmetic only; the counts live in Redis (lua/prelude.lua keeps them, lua/geohash.lua
names a report's cell exactly as Redis's GEOHASH does).

A geohash of p characters has 5p bits, alternately longitude and latitude, longitude first, so
its cell is 360 / 2^ceil(5p/2) degrees wide and 180 / 2^floor(5p/2) high. A web map at zoom z
shows 360 degrees of longitude in 256 * 2^z pixels, so a cell is 2^(8 + z - ceil(5p/2)) pixels
wide. Each added character makes cells 4 or 8 times narrower, so no rule keeps them within 40 to
80 pixels at every zoom; the finest cells at least 32 pixels wide keep them within a factor of two
of 64 (the map clusters at zooms 0..15; from STREET_ZOOM on it shows single reports):

| zoom | 0  | 1  | 2  | 3  | 4   | 5  | 6  | 7  | 8  | 9   | 10 | 11 | 12 | 13 | 14  | 15 |
| ---- | -- | -- | -- | -- | --- | -- | -- | -- | -- | --- | -- | -- | -- | -- | --- | -- |
| p    | 1  | 1  | 2  | 2  | 2   | 3  | 3  | 4  | 4  | 4   | 5  | 5  | 6  | 6  | 6   | 7  |
| px   | 32 | 64 | 32 | 64 | 128 | 32 | 64 | 32 | 64 | 128 | 32 | 64 | 32 | 64 | 128 | 32 |

Cells are kept at precisions 1..7 only: 7 (153 m x 153 m) is the finest any zoom asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from roadhazard.reports.listing import BoundingBox

GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
CELL_PRECISIONS = 7  # lua/prelude.lua's CELL_PRECISIONS (tests/reports/test_lua.py)
MIN_CELL_PX = 32
TILE_PX = 256
MAX_ZOOM = 22
STREET_ZOOM = 16
# A box that needs more cells than this at its zoom's precision gets coarser cells: the
# counters script reads one hash a cell (see roadhazard.reports.clusters).
MAX_CANDIDATE_CELLS = 1500


def axis_bits(precision: int) -> tuple[int, int]:
    """Bits of longitude and of latitude in a geohash of `precision` characters."""
    bits = 5 * precision
    return (bits + 1) // 2, bits // 2


def cell_width_px(precision: int, zoom: int) -> float:
    lon_bits, _ = axis_bits(precision)
    return TILE_PX * 2.0 ** (zoom - lon_bits)


def precision_for_zoom(zoom: int) -> int:
    """The finest precision whose cells are at least MIN_CELL_PX wide at `zoom` (the table)."""
    for precision in range(CELL_PRECISIONS, 1, -1):
        if cell_width_px(precision, zoom) >= MIN_CELL_PX:
            return precision
    return 1


@dataclass(frozen=True)
class CellGrid:
    """The cells of one precision that cover a box: columns west..east, rows south..north, and
    with `wraps` the westernmost column as well (see `covering`)."""

    precision: int
    west: int
    east: int
    south: int
    north: int
    wraps: bool = False

    @property
    def columns(self) -> list[int]:
        return [0] * self.wraps + list(range(self.west, self.east + 1))

    @property
    def size(self) -> int:
        return (self.east - self.west + 1 + self.wraps) * (self.north - self.south + 1)

    def geohashes(self) -> list[str]:
        lon_bits, lat_bits = axis_bits(self.precision)
        # The first bit is longitude's: with an even number of bits it is at an odd position.
        lon_shift, lat_shift = (1, 0) if (lon_bits + lat_bits) % 2 == 0 else (0, 1)
        column_bits = [_spread(column) << lon_shift for column in self.columns]
        return [
            _characters(column | row_bits, self.precision)
            for row_bits in (_spread(row) << lat_shift for row in range(self.south, self.north + 1))
            for column in column_bits
        ]

    def extent(self) -> BoundingBox:
        """The box the cells cover together (the wrapped column is on the box's east edge)."""
        width, height = cell_size(self.precision)
        return BoundingBox(
            -180 + self.west * width,
            -90 + self.south * height,
            -180 + (self.east + 1) * width,
            -90 + (self.north + 1) * height,
        )


def cell_size(precision: int) -> tuple[float, float]:
    """Width and height of a cell in degrees."""
    lon_bits, lat_bits = axis_bits(precision)
    return 360 / (1 << lon_bits), 180 / (1 << lat_bits)


def covering(box: BoundingBox, precision: int) -> CellGrid:
    """The cells that `box` touches. A report at exactly longitude 180 is in the westernmost
    column, where Redis's geohash wraps it, so a box reaching 180 takes that column too."""
    width, height = cell_size(precision)
    lon_bits, lat_bits = axis_bits(precision)
    west = _index(box.min_lon + 180, width, lon_bits)
    return CellGrid(
        precision,
        west=west,
        east=_index(box.max_lon + 180, width, lon_bits),
        south=_index(box.min_lat + 90, height, lat_bits),
        north=_index(box.max_lat + 90, height, lat_bits),
        wraps=box.max_lon >= 180 and west > 0,
    )


def grid_for(box: BoundingBox, zoom: int) -> CellGrid:
    """The zoom's precision, made coarser until the box needs at most MAX_CANDIDATE_CELLS."""
    grid = covering(box, precision_for_zoom(zoom))
    while grid.size > MAX_CANDIDATE_CELLS and grid.precision > 1:
        grid = covering(box, grid.precision - 1)
    return grid


def bounds(geohash: str) -> BoundingBox:
    """Where the cell `geohash` lies."""
    code = 0
    for character in geohash:
        code = code << 5 | GEOHASH_ALPHABET.index(character)
    lon_bits, lat_bits = axis_bits(len(geohash))
    column = row = 0
    for position in range(lon_bits + lat_bits - 1, -1, -1):
        bit = code >> position & 1
        if (lon_bits + lat_bits - 1 - position) % 2 == 0:
            column = column << 1 | bit
        else:
            row = row << 1 | bit
    width, height = cell_size(len(geohash))
    return BoundingBox(
        -180 + column * width,
        -90 + row * height,
        -180 + (column + 1) * width,
        -90 + (row + 1) * height,
    )


def _index(offset: float, size: float, bits: int) -> int:
    return max(0, min((1 << bits) - 1, int(offset // size)))


def _spread(value: int) -> int:
    """`value`'s bits at the even positions (bit i goes to bit 2i)."""
    out = 0
    position = 0
    while value:
        out |= (value & 1) << (2 * position)
        value >>= 1
        position += 1
    return out


def _characters(code: int, precision: int) -> str:
    return "".join(
        GEOHASH_ALPHABET[code >> shift & 31] for shift in range(5 * (precision - 1), -1, -5)
    )
