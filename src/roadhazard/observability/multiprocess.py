"""Set-up of prometheus_client's multiprocess mode, for `roadhazard serve --workers N`.

This module does not import prometheus_client at import time: the CLI calls
`prepare_multiprocess_dir` before any worker exists, and prometheus_client decides once, when it
is first imported, whether values live in memory or in files under PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# prometheus_client names its files <type>[_<gauge mode>]_<pid>.db; only those are ours to touch.
_METRIC_FILE = re.compile(r"^(counter|gauge_[a-z]+|histogram|summary)_(\d+)\.db$")
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def prepare_multiprocess_dir(
    path: Path | str, *, environ: MutableMapping[str, str] = os.environ
) -> Path:
    """Creates or empties the directory and exports PROMETHEUS_MULTIPROC_DIR for the workers.

    Call it in the parent process before the workers start. Files left by an earlier run would
    add its counters and its dead workers' gauges to this run's numbers, so they are removed;
    any other file in the directory is left alone. Returns the absolute path now exported.
    """
    directory = Path(path).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if _METRIC_FILE.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
    environ[MULTIPROC_DIR_ENV] = str(directory)
    return directory


def mark_process_dead(pid: int, path: Path | str | None = None) -> None:
    """Drops the live gauges (queue depth, in flight, statuses) of a worker that has exited.

    A no-op outside multiprocess mode. A worker calls it for itself, `os.getpid()`, as the last
    step of its shutdown; the files of a worker that crashed are swept at the next scrape.
    """
    directory = path or os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def remove_dead_process_files(path: Path | str) -> list[int]:
    """Removes the live-gauge files of processes that no longer exist; returns their pids.

    uvicorn replaces a crashed worker without telling the application, so nobody calls
    `mark_process_dead` for it and its last queue depth would otherwise be summed forever.
    """
    dead: set[int] = set()
    for entry in Path(path).iterdir():
        match = _LIVE_GAUGE_FILE.match(entry.name)
        if match is not None and not _process_exists(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, path)
    return sorted(dead)


def _process_exists(pid: int) -> bool:
    if pid <= 0:  # kill(0, ...) would address our own process group, not a process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
