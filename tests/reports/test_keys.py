"""Report key builders: one prefix, one hash tag for every report key and index, safe ids."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from roadhazard.reports import keys


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_report_keys_and_indexes_share_one_slot() -> None:
    together = [
        keys.report("r-42"),
        keys.REPORTS_BY_TIME,
        keys.REPORT_STATS,
        keys.REPORT_EVENTS,
        keys.reports_geo("pothole"),
        keys.report_idempotency("key:ab12cd34", "any text, even {braces}"),
    ]
    assert keys.report("r-42") == "rh:{reports}:report:r-42"
    assert keys.REPORTS_BY_TIME == "rh:{reports}:by_time"
    assert keys.reports_geo("D40") == "rh:{reports}:geo:D40"
    assert len({slot(k) for k in together}) == 1
    assert all(k.startswith(keys.PREFIX) for k in together)


@pytest.mark.parametrize("bad", ["", "a}b", "{x}", "a:b", "with space", "x" * 129, "é"])
def test_ids_that_could_break_a_key_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a Redis key"):
        keys.report(bad)
    with pytest.raises(ValueError, match="cannot be part of a Redis key"):
        keys.reports_geo(bad)


def test_client_idempotency_keys_are_hashed_to_a_bounded_key() -> None:
    long_key = "k" * 10_000
    key = keys.report_idempotency("ip:10.0.0.1", long_key)
    assert key.startswith("rh:{reports}:idem:")
    assert len(key) == len("rh:{reports}:idem:") + 64
    assert key == keys.report_idempotency("ip:10.0.0.1", long_key)
    assert key != keys.report_idempotency("ip:10.0.0.1", long_key + "!")
    assert key != keys.report_idempotency("ip:10.0.0.2", long_key)
