"""The run's figures: per-endpoint table, lateness, RSS over time, CPU, the verdicts, JSON."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, TextIO

from throughput.measure import percentile

from .recorder import Recorder, RssSample
from .traffic import ENDPOINTS

LATE_S = 0.1


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@dataclass(frozen=True)
class MemoryVerdict:
    baseline: RssSample | None
    final: RssSample | None
    peak_kib: int | None
    growth_pct: float | None
    limit_pct: float

    @property
    def passed(self) -> bool | None:
        return None if self.growth_pct is None else self.growth_pct <= self.limit_pct

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "NOT JUDGED"}[self.passed]


def memory_verdict(samples: list[RssSample], warmup: int, limit_pct: float) -> MemoryVerdict:
    """Service RSS (Redis apart) from the first sample after `warmup` requests to the last."""
    after = [s for s in samples if s.completed >= warmup]
    if len(after) < 2:
        return MemoryVerdict(None, samples[-1] if samples else None, None, None, limit_pct)
    base, final = after[0], after[-1]
    growth = (final.service_kib - base.service_kib) / base.service_kib * 100
    return MemoryVerdict(base, final, max(s.service_kib for s in after), growth, limit_pct)


def rss_rows(samples: list[RssSample], every: int, base: RssSample | None) -> list[dict[str, Any]]:
    """The first sample at or after each multiple of `every` requests, then the last one."""
    picked: list[RssSample] = samples[:1]
    mark = every
    for sample in samples:
        if sample.completed >= mark:
            picked.append(sample)
            mark = (sample.completed // every + 1) * every
    if samples and picked[-1] is not samples[-1]:
        picked.append(samples[-1])
    rows = []
    for previous, sample in zip([None, *picked[:-1]], picked, strict=True):
        span = sample.elapsed_s - previous.elapsed_s if previous else 0.0
        cores = (
            (sample.service_cpu_s - previous.service_cpu_s) / span if previous and span else None
        )
        rows.append(
            {
                "requests": sample.completed,
                "elapsed_s": round(sample.elapsed_s, 1),
                "service_mib": round(sample.service_kib / 1024, 1),
                "vs_baseline_pct": None
                if base is None
                else round((sample.service_kib - base.service_kib) / base.service_kib * 100, 2),
                "redis_mib": round(sample.redis_kib / 1024, 1),
                "service_cores": None if cores is None else round(cores, 2),
                "processes": sample.processes,
            }
        )
    return rows


def cpu_use(samples: list[RssSample]) -> dict[str, float | None]:
    """Average cores busy from the first sample to the last: who used the machine."""
    if len(samples) < 2:
        return {}
    first, last = samples[0], samples[-1]
    span = max(last.elapsed_s - first.elapsed_s, 1e-9)
    use: dict[str, float | None] = {
        "service": (last.service_cpu_s - first.service_cpu_s) / span,
        "redis": (last.redis_cpu_s - first.redis_cpu_s) / span,
        "client": (last.client_cpu_s - first.client_cpu_s) / span,
        "machine": None,
        "others": None,
    }
    if first.machine_busy_s is not None and last.machine_busy_s is not None:
        machine = (last.machine_busy_s - first.machine_busy_s) / span
        use["machine"] = machine
        use["others"] = max(0.0, machine - sum(v or 0.0 for v in list(use.values())[:3]))
    return {k: None if v is None else round(v, 2) for k, v in use.items()}


def endpoint_rows(recorder: Recorder) -> list[dict[str, Any]]:
    seconds = max(recorder.last_completion - recorder.started, 1e-9)
    order = [e for e in ENDPOINTS if e in recorder.endpoints]
    order += sorted(set(recorder.endpoints) - set(order))
    rows = []
    for name in order:
        stats = recorder.endpoints[name]
        count = sum(stats.outcomes.values())
        rows.append(
            {
                "endpoint": name,
                "count": count,
                "req_per_s": round(count / seconds, 2),
                "errors": stats.errors,
                "error_rate": round(stats.errors / count, 5) if count else 0.0,
                "p50_ms": _ms(percentile(stats.latencies_s, 50)),
                "p95_ms": _ms(percentile(stats.latencies_s, 95)),
                "p99_ms": _ms(percentile(stats.latencies_s, 99)),
                "max_ms": _ms(max(stats.latencies_s, default=None)),
                "statuses": dict(sorted(stats.outcomes.items())),
            }
        )
    return rows


def lateness_rows(recorder: Recorder) -> list[dict[str, Any]]:
    return [
        {
            "stream": stream,
            "sends": len(values),
            "p50_ms": _ms(percentile(values, 50)),
            "p99_ms": _ms(percentile(values, 99)),
            "max_ms": _ms(max(values, default=None)),
            "late_over_100ms": sum(1 for v in values if v > LATE_S),
        }
        for stream, values in sorted(recorder.lateness_s.items())
    ]


def write_report(out: TextIO, summary: dict[str, Any]) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line()
    line("== Roadhazard dashcam load test ==")
    for key, value in summary["settings"].items():
        line(f"{key + ':':<14}{value}")
    totals = summary["totals"]
    line(
        f"{'totals:':<14}{totals['completed']:,} requests in {totals['seconds']:.1f} s = "
        f"{totals['req_per_s']:.2f} req/s, {totals['errors']} errors "
        f"({totals['error_rate'] * 100:.2f}%)"
    )
    line()
    line(
        f"{'endpoint':<32}{'count':>7}{'req/s':>8}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}  statuses"
    )
    for row in summary["endpoints"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
        line(
            f"{row['endpoint']:<32}{row['count']:>7,}{row['req_per_s']:>8.2f}"
            f"{row['error_rate'] * 100:>7.2f}%{_fmt(row['p50_ms']):>9}{_fmt(row['p95_ms']):>9}"
            f"{_fmt(row['p99_ms']):>9}{_fmt(row['max_ms']):>9}  {statuses}"
        )
    line()
    line("client lateness (send time behind schedule):")
    for row in summary["lateness"]:
        line(
            f"  {row['stream']:<10}{row['sends']:>7,} sends, p50 {_fmt(row['p50_ms'])} ms, "
            f"p99 {_fmt(row['p99_ms'])} ms, max {_fmt(row['max_ms'])} ms, "
            f"{row['late_over_100ms']} over 100 ms"
        )
    for key, detail in summary["error_examples"].items():
        line(f"  first reply of {key}: {detail}")
    memory = summary["memory"]
    if memory["rows"]:
        line()
        line("service RSS (all its processes but Redis) over the run:")
        line(
            f"{'requests':>10}{'elapsed s':>11}{'service MiB':>13}{'vs base':>9}"
            f"{'redis MiB':>11}{'svc cores':>11}{'procs':>7}"
        )
        for row in memory["rows"]:
            change = row["vs_baseline_pct"]
            line(
                f"{row['requests']:>10,}{row['elapsed_s']:>11.1f}{row['service_mib']:>13.1f}"
                f"{'-' if change is None else f'{change:+.1f}%':>9}{row['redis_mib']:>11.1f}"
                f"{_fmt(row['service_cores'], 2):>11}{row['processes']:>7}"
            )
    cpu = summary["cpu_cores"]
    if cpu:
        line(
            "cpu (average cores busy): "
            + ", ".join(f"{k} {_fmt(v, 2)}" for k, v in cpu.items())
            + "  (others = the rest of the machine)"
        )
    state = summary["service_state"]
    if "total" in state:
        classes = ", ".join(f"{k} {v:,}" for k, v in state.get("by_class", {}).items())
        states = ", ".join(f"{k} {v:,}" for k, v in state.get("by_state", {}).items() if v)
        line(
            f"reports in the service at the end: {state['total']:,} ({classes}; {states}), "
            f"from {summary['totals']['sessions_started']} sessions"
        )
    elif state:
        line(f"reports in the service at the end: unknown ({state})")
    line()
    for verdict in summary["verdicts"]:
        line(verdict)


def summarise(
    args: argparse.Namespace, settings: dict[str, str], recorder: Recorder, cut_off: int
) -> dict[str, Any]:
    seconds = max(recorder.last_completion - recorder.started, 1e-9)
    memory = memory_verdict(recorder.samples, args.warmup_requests, args.rss_limit_pct)
    error_rate = recorder.errors / recorder.completed if recorder.completed else 0.0
    errors_ok = error_rate * 100 <= args.max_error_pct and cut_off == 0
    verdicts = [
        f"errors: {recorder.errors:,} of {recorder.completed:,} requests "
        f"({error_rate * 100:.2f}%), {cut_off} unanswered at the end; limit "
        f"{args.max_error_pct:g}%: {'PASS' if errors_ok else 'FAIL'}"
    ]
    if memory.baseline is not None and memory.final is not None and memory.peak_kib is not None:
        base, final = memory.baseline, memory.final
        verdicts.append(
            f"RSS: service {base.service_kib / 1024:.1f} MiB after {base.completed:,} requests "
            f"-> {final.service_kib / 1024:.1f} MiB after {final.completed:,}: "
            f"{memory.growth_pct:+.1f}% (peak {memory.peak_kib / 1024:.1f} MiB); "
            f"limit +{args.rss_limit_pct:g}%: {memory.word}"
        )
    else:
        why = "no --pid" if not recorder.samples else "too few samples after the warm-up"
        verdicts.append(f"RSS: {memory.word} ({why})")
    return {
        "settings": settings,
        "totals": {
            "sent": recorder.sent,
            "completed": recorder.completed,
            "errors": recorder.errors,
            "error_rate": round(error_rate, 5),
            "seconds": round(seconds, 1),
            "req_per_s": round(recorder.completed / seconds, 2),
            "sessions_started": recorder.sessions_started,
            "unanswered": cut_off,
        },
        "endpoints": endpoint_rows(recorder),
        "lateness": lateness_rows(recorder),
        "error_examples": recorder.error_examples,
        "memory": {
            "growth_pct": None if memory.growth_pct is None else round(memory.growth_pct, 2),
            "limit_pct": args.rss_limit_pct,
            "verdict": memory.word,
            "rows": rss_rows(recorder.samples, args.table_every, memory.baseline),
            "samples": [
                [round(s.elapsed_s, 1), s.completed, s.service_kib, s.redis_kib]
                for s in recorder.samples
            ],
        },
        "cpu_cores": cpu_use(recorder.samples),
        "service_state": recorder.final_stats,
        "verdicts": verdicts,
        "passed": [errors_ok, memory.passed],
    }
