"""`roadhazard serve` with one test-only route that crashes: `python -m` this module, with the
CLI's arguments and `--workers 1`, so the app is built in this process.

The service has no endpoint that fails on purpose, and must not get one; a test that needs a
crash inside a handler (and uvicorn's "Exception in ASGI application" after it) adds it here.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request

import roadhazard.app
from roadhazard.cli import main

CRASH_PATH = "/test/crash"
ECHO_HEADER = "x-echo"

_create_app_from_env = roadhazard.app.create_app_from_env


async def crash(request: Request) -> None:
    # Held as a local, as uvicorn's and Starlette's frames hold the request's headers.
    api_key = request.headers.get("x-api-key")
    # Like a client library's error that quotes a credential it was given.
    raise RuntimeError(f"crashed holding {api_key is not None}: {request.headers.get(ECHO_HEADER)}")


def create_app_with_crash() -> FastAPI:
    app = _create_app_from_env()
    app.add_api_route(CRASH_PATH, crash)
    return app


if __name__ == "__main__":
    # uvicorn looks the factory up by name when it starts, so it finds this one.
    roadhazard.app.create_app_from_env = create_app_with_crash
    sys.exit(main(sys.argv[1:]))
