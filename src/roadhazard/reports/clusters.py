"""The map (GET /v1/reports/clusters): report counts by geohash cell over a box, or single reports
at street zoom; and the rebuild that counts older reports into the cells.

How an answer is found, and what it costs (C = the cells that cover the box, at most
`cells.MAX_CANDIDATE_CELLS`; K = the class|state|severity combinations present in a cell; N = the
reports in Redis, M = those that could match):

- No filter, or only those the cells' counters answer (status, state, service_code, severity):
  Python lists the cells covering the box at the zoom's precision (`cells.grid_for`), and one
  script reads each cell's hash and adds up the counters of the matching combinations,
  O(C x K): the same for ten reports in view as for a million. The report scripts keep the
  counters (lua/prelude.lua), with each combination's position sums, so counts and centroids
  are over matching reports only.
- `since`, `until`, `session_id` or `min_confidence`: no counter knows them, so one script reads
  the reports themselves. Candidates: the session's reports, or those created in the time
  range, when the fewer of them is at most `SCAN_CAP`, sifted by position (GEOPOS, in bulk);
  else GEOSEARCH over the cells' extent, stopped after `SCAN_CAP` + 1 (ANY), sifted by session
  and time (ZMSCORE, in bulk). Then each survivor's hash is read and checked. At most
  `SCAN_CAP` candidates, O(candidates) cheap bulk work plus O(survivors) report reads; more
  than `SCAN_CAP` possible matches are refused with 422 (zoom in, or drop those filters),
  never answered partially.
- Zoom `cells.STREET_ZOOM` and above: single reports in the box, from the same script's reading
  with every filter, at most `POINTS_CAP` candidates; a box holding more is answered with the
  finest cells instead (`precision` in the answer says which it is).

A cell the box touches is counted whole, the part outside the box included, so a cell's count
does not change as the map pans.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from roadhazard.errors import Unprocessable
from roadhazard.inputs import GEO_MAX_LAT
from roadhazard.reports import keys
from roadhazard.reports.cells import STREET_ZOOM, CellGrid, grid_for
from roadhazard.reports.cluster_store import (
    CellCount,
    ClusterStore,
    CountFilter,
    ReportPoint,
    ScanFilter,
    SearchArea,
)
from roadhazard.reports.listing import BoundingBox, ReportQuery, search_box
from roadhazard.reports.states import ReportState, status_of
from roadhazard.reports.store import Position, ReportStore
from roadhazard.timeutil import epoch_ms

log = structlog.get_logger(__name__)

SCAN_CAP = 20_000
POINTS_CAP = 2_000
# lua/prelude.lua's CELLS_VERSION: reports marked with it are in the cells. A new layout of the
# cells takes a new version and new key names, so a rebuild never adds to cells of the old one.
CELLS_VERSION = "1"
REBUILD_BATCH = 500


@dataclass(frozen=True)
class ClusterMap:
    zoom: int
    precision: int | None  # None: `reports` are single reports, not cells
    cells: list[CellCount]
    reports: list[ReportPoint]


async def find_clusters(store: ClusterStore, query: ReportQuery, zoom: int) -> ClusterMap:
    """Cells (or single reports at street zoom) over `query.bbox`, with the query's filters."""
    if query.bbox is None:
        raise Unprocessable("The map needs a `bbox`.")
    counts = count_filter(query)
    scan = scan_filter(query)
    nothing = counts.states == frozenset()  # a state outside the status asked for
    if zoom >= STREET_ZOOM:
        points = [] if nothing else await store.points(counts, scan, _area(query.bbox), POINTS_CAP)
        if points is not None:
            return ClusterMap(zoom, None, [], sorted(points, key=lambda p: p.id))
    grid = grid_for(query.bbox, zoom)
    cells = [] if nothing else await _cells(store, grid, counts, scan)
    return ClusterMap(zoom, grid.precision, cells, [])


def count_filter(query: ReportQuery) -> CountFilter:
    """The query's filters on class, state (status is a set of states) and severity."""
    states: set[str] | None = None
    if query.status is not None:
        states = {s.value for s in ReportState if status_of(s) == query.status}
    if query.state is not None:
        states = {query.state.value} & (states if states is not None else {query.state.value})
    return CountFilter(
        states=None if states is None else frozenset(states),
        code=query.code,
        severity=query.severity.value if query.severity else None,
    )


def scan_filter(query: ReportQuery) -> ScanFilter:
    return ScanFilter(
        min_ms=epoch_ms(query.since) if query.since else None,
        max_ms=epoch_ms(query.until) if query.until else None,
        session_id=query.session_id,
        min_confidence=query.min_confidence,
    )


async def _cells(
    store: ClusterStore, grid: CellGrid, counts: CountFilter, scan: ScanFilter
) -> list[CellCount]:
    geohashes = grid.geohashes()
    if scan == ScanFilter():
        found = await store.read_cells(grid.precision, geohashes, counts)
    else:
        scanned = await store.scan_cells(
            grid.precision, geohashes, counts, scan, _area(grid.extent()), SCAN_CAP
        )
        if scanned is None:
            raise Unprocessable(
                f"More than {SCAN_CAP} reports in view could match `since`, `until`, "
                "`session_id` or `min_confidence`, which are checked report by report: zoom "
                "in, or drop those filters."
            )
        found = scanned
    return sorted(found, key=lambda cell: cell.geohash)


def _area(box: BoundingBox) -> SearchArea:
    """A search box over `box`, within the latitudes Redis indexes (nothing lies beyond)."""
    clamped = BoundingBox(
        box.min_lon,
        max(box.min_lat, -GEO_MAX_LAT),
        box.max_lon,
        min(box.max_lat, GEO_MAX_LAT),
    )
    edges = (box.min_lon, box.min_lat, box.max_lon, box.max_lat)
    return SearchArea(edges, *search_box(clamped))


async def ensure_cells(
    reports: ReportStore, cells: ClusterStore, batch: int = REBUILD_BATCH
) -> int:
    """Counts every report not yet in the cells into them, unless the version marker says that
    is done; returns how many were added. Walks the reports oldest first, `batch` a script call,
    so Redis is never held for long; reports written meanwhile are counted by their own
    scripts, and the per-report mark keeps any of them from being counted twice."""
    if await cells.cells_version() == CELLS_VERSION:
        return 0
    added = 0
    after: Position | None = None
    while page := await reports.page(
        keys.REPORTS_BY_TIME,
        newest_first=False,
        after=after,
        min_ms=None,
        max_ms=None,
        count=batch,
    ):
        added += await cells.add_to_cells([report_id for _, report_id in page])
        after = page[-1]
    await cells.mark_cells_version(CELLS_VERSION)
    log.info("report_cells_rebuilt", added=added, version=CELLS_VERSION)
    return added
