"""structlog setup: JSON lines in production, readable console output in development.

The standard library's loggers (uvicorn's and redis-py's included) are routed through the same
processors, so every line has one shape, carries the request id bound by RequestIdMiddleware,
and passes the same sanitizer: tracebacks without locals, secrets redacted, values cut to a
bounded size. Lines are written by a thread of their own (log_writer), never by the loop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Literal

import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import Processor

from roadhazard.log_redaction import LogSanitizer, exception_as_text
from roadhazard.log_writer import FLUSH_TIMEOUT_S, LineWriter, QueuedStreamHandler

# JSON tracebacks keep the outermost and innermost frames of a deeper stack.
MAX_TRACEBACK_FRAMES = 30

# Without locals: a frame's locals hold request headers (an API key), a client's auth_args
# (the Redis password), and large values whose rendering once blocked the loop for seconds.
_json_exception = ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False, use_rich=False, max_frames=MAX_TRACEBACK_FRAMES)
)


def configure_logging(
    fmt: Literal["json", "console"], level: str = "INFO", *, secrets: Iterable[str] = ()
) -> None:
    """(Re)configures every logger; `secrets` are the values no line may contain."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Format-specific steps live in the handler's formatter, not in structlog's own chain:
    # loggers cache that chain on first use, and the formatter is replaced on every call.
    # The sanitizer runs once the exception is data (text or dicts), just before rendering.
    sanitizer = LogSanitizer(secrets)
    rendering: list[Processor]
    if fmt == "json":
        rendering = [_json_exception, sanitizer, structlog.processors.JSONRenderer()]
    else:
        console = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        rendering = [exception_as_text, sanitizer, console]

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )
    handler = QueuedStreamHandler(LineWriter(sys.stderr))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    _replace_handlers(root, handler)
    root.setLevel(level)
    _route_library_loggers(root.level)


def flush_logs(timeout_s: float = FLUSH_TIMEOUT_S) -> None:
    """Blocks until every line logged so far is written (at shutdown, and for tests)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, QueuedStreamHandler):
            handler.writer.flush(timeout_s)


def write_logs_directly() -> None:
    """Writes the queued lines, then every later line in the thread that logs it.

    For the end of the lifespan: the loop serves no one any more, and the lines that follow
    (uvicorn's last ones) must not be lost when the process ends by a re-raised SIGTERM.
    """
    for handler in logging.getLogger().handlers:
        if isinstance(handler, QueuedStreamHandler):
            handler.writer.close()


def _replace_handlers(root: logging.Logger, handler: logging.Handler) -> None:
    previous = root.handlers[:]
    root.handlers[:] = [handler]
    for old in previous:
        if isinstance(old, QueuedStreamHandler):
            old.close()  # writes what it still holds, and ends its thread


def _route_library_loggers(root_level: int) -> None:
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # RequestIdMiddleware writes one structured line per request; uvicorn's would duplicate it.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    # httpx logs every request's full URL at INFO: for the geocoder that is a position and the
    # operator's contact email. Our clients log their own calls without either.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(root_level, logging.WARNING))
