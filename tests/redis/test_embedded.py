"""The embedded server: real redis-server processes, started and stopped for each test."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from roadhazard.redis import EmbeddedRedis, EmbeddedRedisError, create_client, find_redis_server

# A second process using the same data directory, reporting what it found.
SECOND_PROCESS = """
import asyncio, json, os, sys
from pathlib import Path
from roadhazard.redis import EmbeddedRedis, create_client

async def main():
    async with EmbeddedRedis(Path(sys.argv[1])) as server:
        client = create_client(server.url, socket_timeout_s=5, connect_timeout_s=5, retries=0)
        info = await client.info("server")
        await client.aclose()
        print(json.dumps({"owner": server.is_owner, "pid": info["process_id"]}), flush=True)
        if sys.argv[2] == "crash":
            os._exit(0)  # dies as if killed: no SHUTDOWN, the lock goes with the process

asyncio.run(main())
"""


def client_for(server: EmbeddedRedis) -> Redis:
    return create_client(server.url, socket_timeout_s=5, connect_timeout_s=5, retries=0)


async def run_second_process(data_dir: Path, mode: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SECOND_PROCESS,
        str(data_dir),
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    found: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return found


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_data_survives_a_restart_and_the_server_is_gone_after_stop(tmp_path: Path) -> None:
    async with EmbeddedRedis(tmp_path) as server:
        assert server.is_owner
        assert server.url == f"unix://{tmp_path}/redis/redis.sock"
        pid = server.pid
        assert pid is not None
        client = client_for(server)
        assert await client.ping()
        await client.set("rh:test:kept", "across restarts")
        await client.aclose()

    assert not is_running(pid)
    assert not (tmp_path / "redis" / "redis.sock").exists()

    async with EmbeddedRedis(tmp_path) as server:
        assert server.pid != pid
        client = client_for(server)
        assert await client.get("rh:test:kept") == "across restarts"
        config = await client.config_get("appendonly")
        assert config == {"appendonly": "yes"}
        await client.aclose()


async def test_a_second_user_shares_the_server_and_does_not_stop_it(tmp_path: Path) -> None:
    async with EmbeddedRedis(tmp_path) as first:
        first_client = client_for(first)
        async with EmbeddedRedis(tmp_path) as second:
            assert not second.is_owner
            assert second.pid is None
            assert second.url == first.url
            second_client = client_for(second)
            info = await second_client.info("server")
            assert info["process_id"] == first.pid
            await second_client.set("rh:test:shared", "yes")
            await second_client.aclose()
        assert await first_client.get("rh:test:shared") == "yes"
        await first_client.aclose()


async def test_a_second_process_uses_the_running_server(tmp_path: Path) -> None:
    async with EmbeddedRedis(tmp_path) as server:
        found = await run_second_process(tmp_path, "normal")
        assert found == {"owner": False, "pid": server.pid}
        client = client_for(server)
        assert await client.ping()  # the other process left it running
        await client.aclose()


async def test_a_follower_takes_over_when_the_owner_leaves_first(tmp_path: Path) -> None:
    owner = EmbeddedRedis(tmp_path)
    await owner.__aenter__()
    client = client_for(owner)
    await client.set("rh:test:owner", "first")
    await client.aclose()
    first_pid = owner.pid
    assert first_pid is not None

    async with EmbeddedRedis(tmp_path, takeover_poll_s=0.05) as follower:
        await owner.__aexit__(None, None, None)
        assert not is_running(first_pid)
        for _ in range(200):
            if follower.is_owner and follower.pid is not None:
                break
            await asyncio.sleep(0.05)
        assert follower.is_owner
        assert follower.pid != first_pid
        client = client_for(follower)
        assert await client.get("rh:test:owner") == "first"
        await client.aclose()
        new_pid = follower.pid
        assert new_pid is not None
    assert not is_running(new_pid)


async def test_a_server_outliving_its_crashed_owner_is_adopted_and_stopped(
    tmp_path: Path,
) -> None:
    found = await run_second_process(tmp_path, "crash")
    orphan = found["pid"]
    assert isinstance(orphan, int)
    assert found["owner"] is True

    async with EmbeddedRedis(tmp_path, stop_timeout_s=5) as server:
        assert server.is_owner
        assert server.pid == orphan  # adopted, not a second server on the same files
        client = client_for(server)
        assert (await client.info("server"))["process_id"] == orphan
        await client.aclose()

    assert not is_running(orphan)
    assert not (tmp_path / "redis" / "redis.sock").exists()
    client = client_for(server)
    with pytest.raises(RedisConnectionError):
        await client.ping()
    await client.aclose()


async def test_a_missing_binary_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "bin" / "redis-server"
    with pytest.raises(EmbeddedRedisError, match="does not exist or is not executable"):
        async with EmbeddedRedis(tmp_path, executable=missing):
            pass
    assert not (tmp_path / "redis").exists()


async def test_a_server_that_cannot_start_shows_its_log(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "appendonly.aof").write_bytes(b"not an append-only file\r\n*3\r\n$3")
    with pytest.raises(EmbeddedRedisError, match="exited with status") as caught:
        async with EmbeddedRedis(tmp_path):
            pass
    assert "append only file" in str(caught.value)
    # The lock is free again: a fixed directory can be started by anyone.
    (tmp_path / "redis" / "appendonly.aof").unlink()
    for leftover in (tmp_path / "redis").glob("appendonlydir"):
        for part in leftover.iterdir():
            part.unlink()
        leftover.rmdir()
    async with EmbeddedRedis(tmp_path) as server:
        assert server.is_owner


def test_a_server_binary_is_found_on_this_machine() -> None:
    found = find_redis_server()
    assert found is not None
    assert found.name == "redis-server"
