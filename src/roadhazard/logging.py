"""structlog setup: JSON lines in production, readable console output in development.

The standard library's loggers (uvicorn's included) are routed through the same processors, so
every line has one shape and carries the request id bound by RequestIdMiddleware.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from structlog.types import Processor


def configure_logging(fmt: Literal["json", "console"], level: str = "INFO") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Format-specific steps live in the handler's formatter, not in structlog's own chain:
    # loggers cache that chain on first use, and the formatter is replaced on every call.
    rendering: list[Processor]
    if fmt == "json":
        rendering = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
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
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
