"""Reports in Redis: every change goes through one of the Lua scripts in scripts.py, and
codec.py writes and reads the report's hash.

Layout (all under the `{reports}` hash tag, see `roadhazard.reports.keys`):

- `report:<id>`            hash, the report's fields as strings;
- `by_time`                every report, scored by creation time in ms;
- `state:<s>`, `status:<open|closed>`, `class:<token>`, `session:<id>`
                           the same ids and scores, per filter value, so a filtered list walks
                           only the reports that may match;
- `geo_all`                every report with a location (list filters near/bbox);
- `geo:<token>`            the open reports of one class (de-duplication);
- `stats`                  counters kept by the scripts;
- `cell:<p>:<geohash>`, `cell_combos:<p>:<geohash>`
                           the map's counters per geohash cell (cluster_store.py);
- `idem:<sha256>`          idempotency records, with a TTL.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from roadhazard.reports import codec, keys, scripts
from roadhazard.reports.events import EVENTS_MAX_LEN
from roadhazard.reports.models import (
    IdempotencyKey,
    RenderedAnswer,
    Report,
    ReportChange,
    ReportStats,
)
from roadhazard.reports.states import ReportState

log = structlog.get_logger(__name__)

# Redis's sort order for equal scores is by member, which for ULIDs is creation order.
Position = tuple[int, str]

# The idempotency record keeps the status its answer had; every answer it keeps is a creation.
CREATED = 201


@dataclass(frozen=True)
class TransitionResult:
    outcome: str  # "ok" | "missing" | "illegal"
    state: ReportState | None


@dataclass(frozen=True)
class IdempotencyClaim:
    outcome: str  # "new" | "takeover" | "busy" | "mismatch" | "done" | "unreadable"
    report_id: str | None = None
    # "done": the report the first request answered with, or what an older release rendered
    answer: Report | RenderedAnswer | None = None


class ReportStore:
    def __init__(self, redis: Redis, *, events_max_len: int = EVENTS_MAX_LEN) -> None:
        self.redis = redis
        # How long the scripts keep the event stream (each change adds to it).
        self.events_max_len = events_max_len
        self._create = scripts.CREATE.registered_on(redis)
        self._transition = scripts.TRANSITION.registered_on(redis)
        self._update = scripts.UPDATE.registered_on(redis)
        self._delete = scripts.DELETE.registered_on(redis)
        self._idem_begin = scripts.IDEM_BEGIN.registered_on(redis)
        self._idem_finish = scripts.IDEM_FINISH.registered_on(redis)
        self._idem_release = scripts.IDEM_RELEASE.registered_on(redis)

    async def exists(self, report_id: str) -> bool:
        return bool(await self.redis.exists(keys.report(report_id)))

    async def create(
        self, report: Report, *, dedupe_radius_m: float, now_iso: str
    ) -> tuple[bool, str | None]:
        """Stores and indexes `report` unless its id exists; returns (created, duplicate_of)."""
        created, duplicate_of = await self._create(
            keys=[keys.report(report.id)], args=self._create_args(report, dedupe_radius_m, now_iso)
        )
        return bool(created), duplicate_of or None

    async def create_many(
        self, reports: Sequence[Report], *, dedupe_radius_m: float, now_iso: str
    ) -> list[tuple[bool, str | None]]:
        """`create` for each report, pipelined in one round trip (imports, the benches); each
        is still its own atomic script call."""
        try:
            return await self._create_pipelined(reports, dedupe_radius_m, now_iso)
        except NoScriptError:
            # Not loaded yet (or flushed): no call ran, so the batch is sent again whole.
            await self.redis.script_load(self._create.script)
            return await self._create_pipelined(reports, dedupe_radius_m, now_iso)

    async def _create_pipelined(
        self, reports: Sequence[Report], dedupe_radius_m: float, now_iso: str
    ) -> list[tuple[bool, str | None]]:
        # EVALSHA itself: redis-py's script objects would ask SCRIPT EXISTS first, every batch.
        async with self.redis.pipeline(transaction=False) as pipe:
            for report in reports:
                pipe.evalsha(
                    self._create.sha,
                    1,
                    keys.report(report.id),
                    *self._create_args(report, dedupe_radius_m, now_iso),
                )
            replies: list[list[Any]] = await pipe.execute()
        return [(bool(created), duplicate_of or None) for created, duplicate_of in replies]

    async def get(self, report_id: str) -> Report | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.report(report_id)))
        return codec.decode(raw) if raw else None

    async def get_many(self, report_ids: Sequence[str]) -> list[Report]:
        """The reports that still exist, in the given order."""
        if not report_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for report_id in report_ids:
                pipe.hgetall(keys.report(report_id))
            raws: list[dict[str, str]] = await pipe.execute()
        return [codec.decode(raw) for raw in raws if raw]

    async def transition(
        self, report_id: str, target: ReportState, sources: Sequence[ReportState], now_iso: str
    ) -> TransitionResult:
        reply = await self._transition(
            keys=[keys.report(report_id)],
            args=[
                keys.REPORTS_PREFIX,
                target.value,
                now_iso,
                self.events_max_len,
                *(s.value for s in sources),
            ],
        )
        state = ReportState(reply[1]) if len(reply) > 1 else None
        return TransitionResult(reply[0], state)

    async def update(self, report_id: str, change: ReportChange, now_iso: str) -> bool:
        """Applies `change` unless the report is gone (False); a change of nothing is a no-op."""
        pairs = [item for pair in codec.change_fields(change).items() for item in pair]
        if not pairs:
            return await self.exists(report_id)
        return bool(
            await self._update(
                keys=[keys.report(report_id)],
                args=[keys.REPORTS_PREFIX, now_iso, self.events_max_len, *pairs],
            )
        )

    async def delete(self, report_id: str) -> bool:
        return bool(await self._delete(keys=[keys.report(report_id)], args=[keys.REPORTS_PREFIX]))

    async def page(
        self,
        index: str,
        *,
        newest_first: bool,
        after: Position | None,
        min_ms: int | None,
        max_ms: int | None,
        count: int,
    ) -> list[Position]:
        """Up to `count` (score, id) of `index` after `after`, within [min_ms, max_ms).

        A cursor is a value, not an offset: reports added or removed meanwhile neither repeat
        nor hide the ones that existed when paging began. Reports created in the cursor's own
        millisecond are read first (one ms holds few), then the rest with an exclusive bound.
        """
        low = "-inf" if min_ms is None else str(min_ms)
        high = "+inf" if max_ms is None else f"({max_ms}"
        found: list[Position] = []
        if after is not None:
            score, last_id = after
            same = await self._range(index, str(score), str(score), newest_first, None)
            inside = (min_ms is None or score >= min_ms) and (max_ms is None or score < max_ms)
            if inside:
                found = [p for p in same if (p[1] < last_id if newest_first else p[1] > last_id)][
                    :count
                ]
            if newest_first:
                high = f"({score}" if max_ms is None or score < max_ms else high
            else:
                low = f"({score}" if min_ms is None or score >= min_ms else low
        if len(found) < count:
            found += await self._range(index, low, high, newest_first, count - len(found))
        return found

    async def _range(
        self, index: str, low: str, high: str, newest_first: bool, count: int | None
    ) -> list[Position]:
        start, end = (high, low) if newest_first else (low, high)
        found = await self.redis.zrange(
            index,
            start,
            end,
            desc=newest_first,
            byscore=True,
            withscores=True,
            offset=None if count is None else 0,
            num=count,
        )
        pairs = cast(list[tuple[str, float]], found)
        return [(int(score), report_id) for report_id, score in pairs]

    async def scores(self, report_ids: Sequence[str]) -> list[Position]:
        """(score, id) of those ids that are still in the time index."""
        if not report_ids:
            return []
        values = await self.redis.zmscore(keys.REPORTS_BY_TIME, list(report_ids))
        return [
            (int(value), report_id)
            for report_id, value in zip(report_ids, values, strict=True)
            if value is not None
        ]

    async def near(self, lat: float, lon: float, radius_m: float, cap: int) -> list[str]:
        """Ids within `radius_m`: at most `cap` + 1, so callers can tell when it overflowed."""
        found = await self.redis.geosearch(
            keys.REPORTS_GEO_ALL,
            longitude=lon,
            latitude=lat,
            radius=radius_m,
            unit="m",
            count=cap + 1,
        )
        return cast(list[str], found)

    async def in_box(
        self, lat: float, lon: float, width_m: float, height_m: float, cap: int
    ) -> list[str]:
        found = await self.redis.geosearch(
            keys.REPORTS_GEO_ALL,
            longitude=lon,
            latitude=lat,
            width=width_m,
            height=height_m,
            unit="m",
            count=cap + 1,
        )
        return cast(list[str], found)

    async def stats(self, *, since_ms: int) -> ReportStats:
        """The counters the scripts keep, and how many reports were created since `since_ms`."""
        raw = cast(dict[str, str], await self.redis.hgetall(keys.REPORT_STATS))
        return codec.stats(raw, await self.count_between(since_ms))

    async def count_between(self, min_ms: int, max_ms: int | None = None) -> int:
        high = "+inf" if max_ms is None else str(max_ms)
        return int(await self.redis.zcount(keys.REPORTS_BY_TIME, min_ms, high))

    async def count_per_interval(self, bounds_ms: Sequence[int]) -> list[int]:
        """Reports created in each [bounds_ms[i], bounds_ms[i + 1]), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for low, high in itertools.pairwise(bounds_ms):
                pipe.zcount(keys.REPORTS_BY_TIME, low, f"({high}")
            counts: list[int] = await pipe.execute()
        return [int(count) for count in counts]

    async def created_before(self, cutoff_ms: int, count: int) -> list[str]:
        ids = await self.redis.zrange(
            keys.REPORTS_BY_TIME, "-inf", f"({cutoff_ms}", byscore=True, offset=0, num=count
        )
        return cast(list[str], ids)

    def _create_args(self, report: Report, dedupe_radius_m: float, now_iso: str) -> list[str]:
        pairs = [item for pair in codec.encode(report).items() for item in pair]
        radius = repr(float(dedupe_radius_m))
        return [keys.REPORTS_PREFIX, radius, now_iso, str(self.events_max_len), *pairs]

    # Idempotency records

    async def claim(
        self,
        client_key: IdempotencyKey,
        *,
        fingerprint: str,
        token: str,
        report_id: str,
        now_ms: int,
        lease_ms: int,
    ) -> IdempotencyClaim:
        reply = await self._idem_begin(
            keys=[client_key.redis_key()],
            args=[
                fingerprint,
                token,
                report_id,
                now_ms,
                now_ms + lease_ms,
                keys.IDEMPOTENCY_TTL_S,
            ],
        )
        outcome = reply[0]
        if outcome == "done":
            try:
                return IdempotencyClaim(outcome, answer=codec.decode_answer(reply[1], reply[2]))
            except ValueError as exc:
                log.warning("idempotency_record_unreadable", reason=str(exc))
                return IdempotencyClaim("unreadable")
        return IdempotencyClaim(outcome, report_id=reply[1] if len(reply) > 1 else None)

    async def finish(self, client_key: IdempotencyKey, *, token: str, answer: Report) -> bool:
        """Records `answer` (the report as filed) for the key's replays."""
        return bool(
            await self._idem_finish(
                keys=[client_key.redis_key()],
                args=[token, CREATED, codec.encode_answer(answer), keys.IDEMPOTENCY_TTL_S],
            )
        )

    async def release(self, client_key: IdempotencyKey, *, token: str) -> None:
        await self._idem_release(keys=[client_key.redis_key()], args=[token])
