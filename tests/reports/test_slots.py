"""Every report script, the map's included, touches keys of one cluster slot only.

The scripts build most of their keys from the prefix, so the key builders' test
(test_keys.py) cannot see them. Redis can: MONITOR lists each command a script runs, and
COMMAND GETKEYS names the keys of each. The scenario runs every script in
roadhazard.reports.scripts at least once (checked by the scripts' SHAs in the same log).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.crc import key_slot
from redis.exceptions import ResponseError

from roadhazard.redis.lua import LuaScript
from roadhazard.reports import keys, scripts
from roadhazard.reports.cluster_store import CountFilter, ScanFilter, SearchArea
from roadhazard.reports.clusters import ensure_cells
from roadhazard.reports.idempotency import Filed
from roadhazard.reports.listing import BoundingBox, ReportQuery
from roadhazard.reports.models import IdempotencyKey, ManualReport
from roadhazard.reports.outbox import Outbox
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action
from roadhazard.taxonomy import resolve
from tests.factories import jpeg
from tests.reports.conftest import HERE, START, Background, Clock, north_of, sighting

# One command of the log: `<time> [<db> <client>] "cmd" "arg" ...`.
_LINE = re.compile(r"^\S+ \[\d+ (?P<client>\S+)\] (?P<args>.*)$")
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


class CommandLog:
    """What MONITOR saw: each command's arguments, and which client sent it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.commands: list[tuple[str, list[str]]] = []

    async def read_until(self, marker: str) -> None:
        while True:
            line = str(await self.connection.read_response())
            match = _LINE.match(line)
            if match is None:
                continue
            args = [arg.replace('\\"', '"') for arg in _ARG.findall(match["args"])]
            if [arg.lower() for arg in args[:1]] == ["echo"] and args[1:2] == [marker]:
                return
            self.commands.append((match["client"], args))


@asynccontextmanager
async def monitored(redis: Redis) -> AsyncIterator[CommandLog]:
    connection = redis.connection_pool.make_connection()
    await connection.connect()
    try:
        await connection.send_command("MONITOR")
        assert await connection.read_response() in ("OK", b"OK")
        log = CommandLog(connection)
        yield log
        marker = f"end-{uuid.uuid4()}"
        await redis.echo(marker)
        await log.read_until(marker)
    finally:
        await connection.disconnect()


async def _every_script(service: ReportsService, background: Background, clock: Clock) -> None:
    first = await service.create_from_sighting(sighting(image=jpeg()))
    await service.create_from_sighting(sighting(location=north_of(HERE, 5)))  # a duplicate
    await service.act(first.report_id, Action.CONFIRM)
    await service.record_sighting(
        first.report_id,
        confidence=0.95,
        box=sighting().box,
        image=jpeg(),
        seen_at=START + timedelta(seconds=1),
    )
    await background.run()
    filed = await service.create_manual(
        ManualReport(hazard=resolve("D40"), location=HERE),
        idempotency_key=IdempotencyKey("caller", "key-1"),
    )
    assert isinstance(filed, Filed)
    await service.store.release(IdempotencyKey("caller", "key-2"), token="none")
    outbox = Outbox(service.store.redis, "slots")
    await outbox.stage("job-1", {"x": "1"}, now_ms=0)
    [job] = await outbox.claim(now_ms=0, lease_ms=1000, limit=1)
    await outbox.retry(job, due_ms=10, error="test")
    await _the_map(service)
    await service.delete(filed.report.id)


async def _the_map(service: ReportsService) -> None:
    box = BoundingBox(4.8, 52.3, 5.0, 52.45)
    await service.clusters(ReportQuery(bbox=box), 12)
    await service.clusters(ReportQuery(bbox=box, since=START), 12)
    await service.clusters(ReportQuery(bbox=box), 18)
    await service.cells.scan_cells(
        6,
        ["u173zm"],
        CountFilter(),
        ScanFilter(session_id="s"),
        SearchArea((4.8, 52.3, 5, 52.5), 4.9, 52.4, 9, 9),
        5,
    )
    await service.store.redis.delete(keys.REPORT_CELLS_VERSION)
    await ensure_cells(service.store, service.cells)


async def test_every_report_script_touches_one_slot(
    service: ReportsService, redis: Redis, background: Background, clock: Clock
) -> None:
    async with monitored(redis) as log:
        await _every_script(service, background, clock)

    run = {args[1] for _, args in log.commands if args[0].lower() == "evalsha"}
    every = {
        LuaScript(s.package, s.file).registered_on(redis).sha
        for s in vars(scripts).values()
        if isinstance(s, LuaScript)
    }
    assert every <= run
    slots: dict[int, set[str]] = {}
    from_scripts = [args for client, args in log.commands if client == "lua"]
    assert len(from_scripts) > 100
    for args in from_scripts:
        try:
            found = await redis.command_getkeys(*args)
        except ResponseError:  # a command without keys
            continue
        for key in found:
            slots.setdefault(key_slot(key.encode()), set()).add(key)
    assert list(slots) == [key_slot(keys.REPORTS_BY_TIME.encode())]
    assert any(":cell:" in key for key in slots[key_slot(keys.REPORTS_BY_TIME.encode())])
