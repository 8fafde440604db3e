"""What a log line may hold (no locals, no secret, a bounded size) and how it is written
(never by the caller blocking on a stuck stream)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import structlog

from roadhazard.log_redaction import MAX_VALUE_CHARS
from roadhazard.log_writer import LineWriter, QueuedStreamHandler
from roadhazard.logging import configure_logging, flush_logs
from roadhazard.settings import Settings

PASSWORD = "pa55-w0rd/with:odd@chars"
API_KEY = "reporter-key-0123456789abcdef"
UNLISTED = "value-of-a-local-nobody-listed"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def logged_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    flush_logs()
    return capsys.readouterr().err.splitlines()


def fail_holding_a_secret() -> None:
    api_key = UNLISTED  # a local: tracebacks once printed every frame's locals
    auth_args = ("default", PASSWORD)
    raise ConnectionError(f"AUTH failed for {api_key is not None}: auth_args={auth_args}")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_carry_no_locals_and_no_listed_secret(
    fmt: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt, secrets=[PASSWORD, API_KEY])
    log = structlog.get_logger("test")
    try:
        fail_holding_a_secret()
    except ConnectionError:
        log.exception("redis_failed", key=API_KEY, nested={"url": f"redis://:{PASSWORD}@h"})

    text = "\n".join(logged_lines(capsys))
    assert "fail_holding_a_secret" in text  # the traceback is there, frames and all
    assert "redis_failed" in text
    assert UNLISTED not in text
    assert PASSWORD not in text
    assert repr(PASSWORD)[1:-1] not in text
    assert API_KEY not in text
    assert "***" in text


@pytest.mark.usefixtures("restore_logging")
def test_standard_library_records_pass_the_same_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", secrets=[PASSWORD])
    logging.getLogger("redis.connection").error("AUTH %s rejected", PASSWORD)

    [line] = [json.loads(line) for line in logged_lines(capsys)]
    assert line["event"] == "AUTH *** rejected"
    assert line["logger"] == "redis.connection"


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_huge_exception_is_cut_and_keeps_its_end(
    fmt: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt)
    huge = "x" * 6_000_000 + "-the-end"
    try:
        raise ValueError(huge)
    except ValueError:
        structlog.get_logger("test").exception("request_failed", body=huge)

    text = "\n".join(logged_lines(capsys))
    assert len(text) < 4 * MAX_VALUE_CHARS
    assert text.count("-the-end") == 2  # in the exception and in the field
    assert "characters cut" in text


def test_settings_hide_every_secret_and_list_them_for_redaction() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_keys=f"reporter:{API_KEY}",
        redis_url=f"redis://:{PASSWORD.replace('/', '%2F')}@redis:6379/0",
        cloudinary_url="cloudinary://1234:cloud-secret-value@demo",
        geocoder_email="ops@example.org",
    )

    assert settings.geocoder_email is not None
    assert settings.geocoder_email.get_secret_value() == "ops@example.org"
    for secret in (API_KEY, PASSWORD, "pa55-w0rd%2F", "cloud-secret-value", "ops@example.org"):
        assert secret not in repr(settings)
    assert {API_KEY, PASSWORD, "cloud-secret-value", "ops@example.org"} <= set(
        settings.secret_values()
    )


class StuckStream(StringIO):
    """A stream whose writes wait until the test lets them through, like a full pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        if not self.released.wait(timeout=30):
            raise TimeoutError("the test never released the stream")
        return super().write(text)


def test_a_stuck_stream_drops_lines_instead_of_blocking_the_caller() -> None:
    stream = StuckStream()
    handler = QueuedStreamHandler(LineWriter(stream, capacity=3))
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("stuck")
    logger.addHandler(handler)

    logger.warning("line 0")
    assert stream.entered.wait(timeout=30)  # the writer's thread now hangs in write()
    for number in range(1, 10):  # returns at once although nothing can be written
        logger.warning("line %d", number)
    stream.released.set()
    assert handler.writer.flush()
    logger.warning("after")
    handler.close()

    written = stream.getvalue().splitlines()
    # The writer holds one line while the queue holds three; the rest are counted, then said.
    assert written[:4] == ["line 0", "line 1", "line 2", "line 3"]
    assert written[4] == "log_lines_dropped: 6 lines were dropped while stderr could not keep up"
    assert written[5:] == ["after"]


def test_after_close_lines_are_written_directly_in_order() -> None:
    stream = StringIO()
    writer = LineWriter(stream)
    writer.put("queued")
    writer.close()
    writer.put("direct")

    assert stream.getvalue().splitlines() == ["queued", "direct"]
