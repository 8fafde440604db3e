"""The coverage script touches keys of one cluster slot only, the {coverage} tag's: it builds
the cells' keys from the prefix, so only Redis (MONITOR, COMMAND GETKEYS) can tell."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from roadhazard.coverage import keys
from roadhazard.coverage.service import CoverageService
from tests.coverage.tracks import STREET, scan_at
from tests.reports.test_slots import monitored

pytestmark = pytest.mark.usefixtures("no_coverage_keys")


async def test_recording_a_frame_touches_the_coverage_slot_only(
    coverage: CoverageService, redis: Redis
) -> None:
    async with monitored(redis) as log:
        for step, cell in enumerate(STREET):
            scan = scan_at("01HV000000000000000000000A", cell, 10 * step)
            await coverage.record(scan, now=scan.captured_at)

    slots: set[int] = set()
    from_script = [args for client, args in log.commands if client == "lua"]
    assert len(from_script) > 4 * len(STREET)
    for args in from_script:
        try:
            found = await redis.command_getkeys(*args)
        except ResponseError:  # a command without keys
            continue
        slots |= {key_slot(key.encode()) for key in found}
    assert slots == {key_slot(keys.cell(STREET[0]).encode())}
    assert key_slot(keys.session_track("x").encode()) == key_slot(keys.cell("u").encode())
