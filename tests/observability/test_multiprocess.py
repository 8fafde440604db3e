"""Multiprocess mode with real processes: the workers' files are merged by /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadhazard.observability.multiprocess import (
    MULTIPROC_DIR_ENV,
    mark_process_dead,
    prepare_multiprocess_dir,
    remove_dead_process_files,
)
from tests.observability.samples import parse

# A worker records a little, says so, and stays alive until its stdin closes: live gauges are
# only summed over processes that still exist.
WORKER = """
import sys
from roadhazard.observability import metrics
metrics.count_report_created()
metrics.set_inference_pool(queued=2, in_flight=1)
metrics.set_model_status("ready")
metrics.set_check_statuses({"redis": "healthy"})
metrics.observe_loop_lag(0.002)
print("recorded", flush=True)
sys.stdin.read()
"""
RENDER = """
import sys
from roadhazard.observability.metrics import render_metrics
body, content_type = render_metrics()
print(content_type)
sys.stdout.write(body.decode())
"""


def python(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def render(env: dict[str, str]) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, check=True
    )
    content_type, _, body = done.stdout.partition("\n")
    return content_type, parse(body)


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_metrics_of_all_workers_are_merged_and_exited_workers_drop_out(tmp_path: Path) -> None:
    env = dict(os.environ)
    prepare_multiprocess_dir(tmp_path / "prom", environ=env)
    workers = [python(WORKER, env) for _ in range(2)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "recorded", worker.stderr
        content_type, live = render(env)
    finally:
        outputs = [worker.communicate(timeout=30) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    _, after_exit = render(env)

    assert content_type.startswith("text/plain; version=")
    assert live[key("reports_created_total")] == 2
    assert live[key("inference_queue_depth")] == 4
    assert live[key("inference_in_flight")] == 2
    assert live[key("model_status", status="ready")] == 2
    assert live[key("model_status", status="warming")] == 0
    assert live[key("dependency_check_status", check="redis", status="healthy")] == 1
    assert live[key("event_loop_lag_seconds_count")] == 2
    assert "process_cpu_seconds_total" not in {name for name, _ in live}
    # Totals outlive the workers that counted them; live gauges of exited workers do not.
    assert after_exit[key("reports_created_total")] == 2
    assert after_exit.get(key("inference_queue_depth"), 0) == 0
    assert after_exit.get(key("model_status", status="ready"), 0) == 0


def test_setting_the_directory_after_prometheus_client_is_imported_is_reported(
    tmp_path: Path,
) -> None:
    late = (
        "import os, prometheus_client\n"
        f"os.environ[{MULTIPROC_DIR_ENV!r}] = {str(tmp_path)!r}\n"
        "from roadhazard.observability import metrics\n"
        "assert metrics.multiprocess_dir() is None\n"
    )
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_DIR_ENV}

    done = subprocess.run(
        [sys.executable, "-c", late], env=env, capture_output=True, text=True, check=True
    )

    assert "prometheus_multiproc_dir_ignored" in done.stdout + done.stderr


def test_prepare_empties_only_metric_files_and_exports_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "prom"
    directory.mkdir(parents=True)
    for name in ("counter_12.db", "gauge_livesum_12.db", "histogram_3.db", "notes.txt"):
        (directory / name).write_text("x")
    env: dict[str, str] = {}

    exported = prepare_multiprocess_dir(directory, environ=env)

    assert exported == directory.resolve()
    assert env == {MULTIPROC_DIR_ENV: str(directory.resolve())}
    assert [p.name for p in directory.iterdir()] == ["notes.txt"]
    assert prepare_multiprocess_dir(tmp_path / "fresh", environ=env).is_dir()


def test_only_live_gauges_of_processes_that_are_gone_are_swept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid, alive_pid = int(gone.stdout), os.getpid()
    names = [
        f"gauge_livesum_{dead_pid}.db",
        f"gauge_livemostrecent_{dead_pid}.db",
        f"counter_{dead_pid}.db",
        f"gauge_livesum_{alive_pid}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")

    assert remove_dead_process_files(tmp_path) == [dead_pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[2], names[3]])


def test_mark_process_dead_is_a_no_op_outside_multiprocess_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)
    mark_process_dead(os.getpid())  # nothing to do, and nothing raised

    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    mark_process_dead(os.getpid(), tmp_path)
    assert list(tmp_path.iterdir()) == []
