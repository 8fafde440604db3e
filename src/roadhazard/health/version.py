"""The version /health reports: the package version plus the git short sha where known."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from roadhazard import __version__

log = structlog.get_logger(__name__)

_GIT_TIMEOUT_S = 2.0
_PACKAGE_DIR = Path(__file__).resolve().parent


async def resolve_version(build_sha: str | None) -> str:
    """Build metadata wins (ROADHAZARD_BUILD_SHA, set by the image build); else ask git."""
    sha = build_sha or await _git_short_sha(_PACKAGE_DIR)
    return f"{__version__}+{sha[:12]}" if sha else __version__


async def _git_short_sha(where: Path) -> str | None:
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "rev-parse",
            "--short",
            "HEAD",
            cwd=where,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        log.debug("git_sha_unavailable", reason=f"cannot run git: {exc}")
        return None
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), _GIT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        log.debug("git_sha_unavailable", reason="git timed out")
        return None
    sha = stdout.decode().strip()
    if process.returncode != 0 or not sha:
        log.debug("git_sha_unavailable", reason=f"git exited with {process.returncode}")
        return None
    return sha
