"""Session key builders: one hash tag per session, so its keys share a cluster slot; safe ids."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from roadhazard.sessions import keys


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


@pytest.mark.parametrize("bad", ["", "a}b", "{x}", "a:b", "with space", "x" * 129, "é"])
def test_ids_that_could_break_a_key_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a Redis key"):
        keys.session_meta(bad)
