"""Key builders: one prefix, hash tags that keep transactions in one cluster slot, safe ids."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from roadhazard.redis import keys


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_session_keys_share_one_slot_and_sessions_spread() -> None:
    session = [
        keys.session_meta("s-1"),
        keys.session_tracks("s-1"),
        keys.session_idempotency("s-1", "client retry 7"),
    ]
    assert session[:2] == ["rh:{session:s-1}:meta", "rh:{session:s-1}:tracks"]
    assert {slot(k) for k in session} == {slot("rh:{session:s-1}:meta")}
    many = {slot(keys.session_meta(f"s-{n}")) for n in range(50)}
    assert len(many) > 1


def test_report_keys_and_indexes_share_one_slot() -> None:
    together = [
        keys.report("r-42"),
        keys.REPORTS_BY_TIME,
        keys.REPORT_STATS,
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
        keys.session_meta(bad)
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
