"""Options, the run, the verdicts and the exit status of the dashcam load test."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from throughput.inputs import cpu_count, default_images, load_images
from throughput.measure import BenchError, progress, run_cli
from throughput.server import relaxed_limits

from .dashcam import Dashcam
from .recorder import Recorder, report_progress, sample_memory
from .report import summarise, write_report
from .service import Stopped, started_service
from .traffic import READ_MIX, Api, Clock, KnownReports, Reader, Spawner

DEFAULT_REQUESTS = 10_000
UNLIMITED = sys.maxsize
DRAIN_S = 60.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/loadtest",
        description="Dashcam sessions sending frames with GPS, plus report reads, against "
        "Roadhazard; per-endpoint latency and errors, and whether the service's RSS stays flat.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--sessions", type=int, default=4, help="dashcams driving at once")
    add("--fps", type=float, default=2.0, help="frames per second per dashcam")
    add("--reads-per-s", type=float, default=4.0, help="report reads per second (0: none)")
    add(
        "--requests",
        type=int,
        help=f"stop after this many requests ({DEFAULT_REQUESTS:,} "
        "unless --duration-s is given alone)",
    )
    add("--duration-s", type=float, help="stop after this many seconds")
    add("--warmup-requests", type=int, default=1000, help="RSS baseline: first sample after")
    add("--rss-limit-pct", type=float, default=10.0, help="largest allowed RSS growth")
    add("--max-error-pct", type=float, default=1.0, help="largest allowed error rate")
    add("--workers", type=int, default=1, help="worker processes (roadhazard serve --workers)")
    add("--url", help="target this running service instead of starting one")
    add("--pid", type=int, help="with --url: the service's pid, to sample its RSS")
    add("--api-key", help="sent as X-API-Key (for a service with ROADHAZARD_API_KEYS)")
    add(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the started service (repeatable)",
    )
    add("--frames-per-session", type=int, default=600, help="a dashcam restarts its session")
    add("--session-stats-every", type=int, default=60, help="GET the session every N frames")
    add("--frames-per-image", type=int, default=1, help="frames that show the same image")
    add("--images", type=Path, help="folder of JPEGs to send, cycled (default: samples/)")
    add("--rss-interval-s", type=float, default=1.0, help="seconds between RSS samples")
    add("--table-every", type=int, default=1000, help="RSS table: a row every N requests")
    add("--progress-s", type=float, default=5.0, help="seconds between progress lines")
    add("--ready-timeout-s", type=float, default=120.0, help="seconds to wait for /ready")
    add("--server-log", type=Path, help="copy the started service's log here at the end")
    add("--seed", type=int, default=1, help="seed of the routes, GPS noise and read mix")
    add("--json", action="store_true", help="JSON summary on stdout; the report goes to stderr")
    return parser


def _check(args: argparse.Namespace) -> dict[str, str]:
    if args.sessions < 0 or args.fps <= 0 or args.reads_per_s < 0:
        raise BenchError("--sessions and --reads-per-s must be at least 0, --fps positive")
    if args.sessions == 0 and args.reads_per_s == 0:
        raise BenchError("nothing to send: --sessions and --reads-per-s are both 0")
    if args.requests is not None and args.requests < 1:
        raise BenchError("--requests must be at least 1")
    if args.duration_s is not None and args.duration_s <= 0:
        raise BenchError("--duration-s must be positive")
    counts = (args.frames_per_session, args.session_stats_every, args.table_every)
    if min(*counts, args.frames_per_image) < 1:
        raise BenchError(
            "--frames-per-session, --session-stats-every, --table-every, --frames-per-image: >= 1"
        )
    if args.pid is not None and args.url is None:
        raise BenchError("--pid goes with --url (a started service is sampled by itself)")
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("ROADHAZARD_"):
            raise BenchError(f"--env {item!r}: expected ROADHAZARD_NAME=VALUE")
        env[name] = value
    return env


async def drive(args: argparse.Namespace, url: str, pid: int | None, recorder: Recorder) -> int:
    """Runs the dashcams and the reader until the budget is spent; returns requests cut off."""
    import httpx

    images = load_images((args.images or default_images()).resolve())
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, limits=limits, headers=headers, trust_env=False
    ) as client:
        api, spawner, known, clock = Api(client, recorder), Spawner(), KnownReports(), Clock()
        options = {
            "seed": args.seed,
            "frames_per_session": args.frames_per_session,
            "frames_per_image": args.frames_per_image,
        }
        dashcams = [
            Dashcam(
                i,
                args.sessions,
                api,
                spawner,
                images,
                known,
                clock,
                **options,
                stats_every=args.session_stats_every,
            )
            for i in range(args.sessions)
        ]
        reader = Reader(
            api,
            spawner,
            random.Random(args.seed),
            known,
            [d.position for d in dashcams],
        )
        recorder.started = recorder.last_completion = time.monotonic()
        background = [asyncio.create_task(report_progress(recorder, args.progress_s, pid))]
        if pid is not None:
            recorder.sample(pid)
            background.append(
                asyncio.create_task(sample_memory(recorder, pid, args.rss_interval_s))
            )
        streams = [d.run(args.fps) for d in dashcams]
        if args.reads_per_s > 0:
            streams.append(reader.run(args.reads_per_s))
        await asyncio.gather(*streams)
        recorder.done.set()
        progress(f"{recorder.sent:,} requests sent; waiting for the replies, ending the sessions")
        for dashcam in dashcams:
            dashcam.finish()
        cut_off = await spawner.drain(DRAIN_S)
        await asyncio.gather(*background)
        if pid is not None:
            recorder.sample(pid)
        try:  # what the run left in the service; not counted
            reply = await client.get("/v1/reports/stats")
            recorder.final_stats = (
                reply.json() if reply.is_success else {"status": reply.status_code}
            )
        except (httpx.HTTPError, ValueError) as exc:
            recorder.final_stats = {"error": type(exc).__name__}
        recorder.error_examples = api.error_examples
        recorder.sessions_started = sum(d.sessions for d in dashcams)
    return cut_off


def describe(args: argparse.Namespace, target: str, env: dict[str, str]) -> dict[str, str]:
    limit = recorder_limit(args)
    stop = [f"{limit:,} requests"] if limit != UNLIMITED else []
    stop += [f"{args.duration_s:g} s"] if args.duration_s else []
    images = args.images or default_images()
    mix = ", ".join(f"{k.split()[-1]} {v}%" for k, v in READ_MIX.items())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_count()} CPUs usable, {platform.machine()}, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start",
        "target": target,
        "settings": " ".join(f"{k}={v}" for k, v in env.items()) or "(as configured there)",
        "traffic": f"{args.sessions} dashcams x {args.fps:g} fps (multipart frames + GPS on a "
        f"ring of 1.5 km radius at ~10 m/s; new session every {args.frames_per_session} "
        f"frames, GET session every {args.session_stats_every}) + {args.reads_per_s:g} "
        f"reads/s ({mix}); open loop",
        "images": f"{images} (cycled, {args.frames_per_image} frame(s) each)",
        "stop": " or ".join(stop) + f"; RSS baseline after {args.warmup_requests:,} requests",
    }


def recorder_limit(args: argparse.Namespace) -> int:
    if args.requests is not None:
        return int(args.requests)
    return DEFAULT_REQUESTS if args.duration_s is None else UNLIMITED


def run(args: argparse.Namespace) -> int:
    env = _check(args)
    recorder = Recorder(recorder_limit(args), args.duration_s)
    stopped = Stopped()
    if args.url:
        settings = describe(args, f"{args.url} (already running)", {})
        for key, value in settings.items():
            progress(f"{key}: {value}")
        cut_off = asyncio.run(drive(args, args.url.rstrip("/"), args.pid, recorder))
    else:
        env = {**relaxed_limits(), **env}
        target = f"roadhazard serve --workers {args.workers}, own data dir and embedded Redis"
        settings = describe(args, target, env)
        for key, value in settings.items():
            progress(f"{key}: {value}")
        with started_service(
            args.workers, env, args.ready_timeout_s, stopped, args.server_log
        ) as server:
            progress(f"service ready on {server.url} (pid {server.process.pid})")
            cut_off = asyncio.run(drive(args, server.url, server.process.pid, recorder))
            progress("stopping the service (SIGTERM)")
        settings["service stop"] = stopped.describe()
        settings["server log"] = stopped.describe_log() or "(empty)"
    summary = summarise(args, settings, recorder, cut_off)
    write_report(sys.stderr if args.json else sys.stdout, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 1 if False in summary["passed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Any way out, SIGTERM included, stops the service it started.
    return run_cli("loadtest", lambda: run(args))
