"""What the report scripts spell for themselves equals its Python source of truth.

The Lua cannot import Python, so the names, states and limits it writes out are pinned here.
"""

from __future__ import annotations

import re

from roadhazard.inputs import GEO_MAX_LAT
from roadhazard.redis.lua import LuaScript
from roadhazard.reports import keys, scripts
from roadhazard.reports.cells import CELL_PRECISIONS, GEOHASH_ALPHABET
from roadhazard.reports.clusters import CELLS_VERSION
from roadhazard.reports.states import OPEN_STATES, ReportState, ReportStatus

PRELUDE = LuaScript("roadhazard.reports", "prelude.lua").source
REPORT_SCRIPTS = [s for s in vars(scripts).values() if isinstance(s, LuaScript)]
ALL_TEXT = PRELUDE + "".join(s.source for s in REPORT_SCRIPTS)


def test_the_open_states_are_the_python_ones() -> None:
    table = re.search(r"^local OPEN = \{(.*)\}$", PRELUDE, re.MULTILINE)
    assert table is not None
    names = {entry.split("=")[0].strip() for entry in table[1].split(",")}
    assert names == {state.value for state in OPEN_STATES}
    assert re.findall(r"(?:^|\s)'(open|closed)'", PRELUDE) == [
        ReportStatus.OPEN.value,
        ReportStatus.CLOSED.value,
    ]
    assert re.findall(r"r\.state = '(\w+)'", ALL_TEXT) == [ReportState.DUPLICATE.value]


def test_the_latitude_limit_is_the_geo_index_limit() -> None:
    limits = re.findall(r"\b85\.\d+", ALL_TEXT)
    assert limits
    assert {float(limit) for limit in limits} == {GEO_MAX_LAT}


def test_every_key_the_scripts_build_is_a_key_builders_name() -> None:
    """The scripts build keys as `P .. '<name>'`, P being ARGV[1]: keys.REPORTS_PREFIX."""
    built = set(re.findall(r"\bP \.\. '([a-z_:]+)'", ALL_TEXT))
    x = "x1"
    expected = {
        "by_time": keys.REPORTS_BY_TIME,
        "stats": keys.REPORT_STATS,
        "events": keys.REPORT_EVENTS,
        "geo_all": keys.REPORTS_GEO_ALL,
        "geo:": keys.reports_geo(x),
        "report:": keys.report(x),
        "state:": keys.reports_by_state(x),
        "status:": keys.reports_by_status(x),
        "class:": keys.reports_by_class(x),
        "session:": keys.reports_by_session(x),
        "cell:": keys.report_cell(3, "u17"),
        "cell_combos:": keys.report_cell_combos(3, "u17"),
    }
    assert built == set(expected)
    for name, key in expected.items():
        suffix = "3:u17" if name.startswith("cell") else x
        assert key == keys.REPORTS_PREFIX + name + (suffix if name.endswith(":") else "")
    # A cell's keys: the name, the precision, ':', the geohash.
    assert "local cell = precision .. ':' .. string.sub(hash, 1, precision)" in ALL_TEXT
    assert "P .. 'cell:' .. cell" in ALL_TEXT
    assert "P .. 'cell_combos:' .. cell" in ALL_TEXT
    assert "P .. 'cell:' .. ARGV[5] .. ':' .. geohash" in ALL_TEXT
    assert "P .. 'cell_combos:' .. ARGV[5] .. ':' .. geohash" in ALL_TEXT


def test_the_cells_precisions_and_version_are_the_python_ones() -> None:
    assert re.findall(r"^local CELL_PRECISIONS = (\d+)$", PRELUDE, re.MULTILINE) == [
        str(CELL_PRECISIONS)
    ]
    assert re.findall(r"^local CELLS_VERSION = '(\w+)'$", PRELUDE, re.MULTILINE) == [CELLS_VERSION]
    assert re.findall(r"^local GEOHASH_ALPHABET = '(\w+)'$", PRELUDE, re.MULTILINE) == [
        GEOHASH_ALPHABET
    ]
