"""The human report, the JSON summary, the targets and the suggested defaults of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import IO, Any

from .bare import BareResult
from .load import HttpResult
from .measure import HEALTH_P99_TARGET_MS, RATIO_TARGET


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _errors(errors: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "0"


def meets_targets(result: HttpResult) -> tuple[bool, bool]:
    ratio_ok = result.ratio is not None and result.ratio >= RATIO_TARGET
    health_ok = (
        result.health_p99_ms is not None
        and result.health_p99_ms <= HEALTH_P99_TARGET_MS
        and not result.health_errors
    )
    return ratio_ok and not result.detect_errors, health_ok


def report(
    out: IO[str],
    header: dict[str, Any],
    bare: Sequence[BareResult],
    best: BareResult,
    http: Sequence[HttpResult],
    sweep: bool,
) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line("Roadhazard detection throughput (GitHub issue 2)")
    for key, value in header.items():
        line(f"  {key:<9} {value}")
    line()
    line("(a) bare ONNX Runtime: Detector.detect_bytes, decode + letterbox + inference + decode")
    line("    callers x threads   images/s   p50 ms   p99 ms   cpu: machine  this  others")
    for row in bare:
        mark = "  <- best" if row is best else ""
        line(
            f"    {row.callers:>7} x {row.threads:<7}  {row.images_per_s:9.1f}"
            f"  {fmt(row.latency_p50_ms):>7}  {fmt(row.latency_p99_ms):>7}"
            f"   {fmt(row.cpu.machine, 2):>12}  {row.cpu.bench:4.2f}"
            f"  {fmt(row.cpu.others, 2):>6}{mark}"
        )
    line()
    clients = http[0].clients if http else 0
    line(
        f"(b) POST /v1/detect over HTTP, {clients} concurrent multipart clients; "
        f"(c) GET /health from a separate process"
    )
    line(
        "    conc x thr   images/s  (b)/(a)  detect p50/p99 ms  health p50/p99/max ms    n"
        "  errors      cpu: server client others"
    )
    for served in http:
        name = f"{served.concurrency} x {served.threads}" + (" *" if served.defaults else "")
        errors = f"{_errors(served.detect_errors)}/{_errors(served.health_errors)}"
        line(
            f"    {name:<10} {served.images_per_s:9.1f}  {fmt(served.ratio, 3):>7}"
            f"  {fmt(served.detect_p50_ms):>8}/{fmt(served.detect_p99_ms):<8}"
            f"  {fmt(served.health_p50_ms):>7}/{fmt(served.health_p99_ms)}"
            f"/{fmt(served.health_max_ms):<7} {served.health_samples:>5}"
            f"  {errors:<10}  {fmt(served.cpu.server, 2):>11}"
            f" {served.cpu.bench:6.2f} {fmt(served.cpu.others, 2):>6}"
        )
    line("    * the service's defaults (no inference variables passed)")
    line("    errors: detect/health failures in the measured period, by status or exception")
    line()
    line(
        f"Targets: (b)/(a) >= {RATIO_TARGET} against the best bare split "
        f"({best.callers} x {best.threads}, {best.images_per_s:.1f} images/s); "
        f"/health p99 <= {HEALTH_P99_TARGET_MS:g} ms"
    )
    for served in http:
        ratio_ok, health_ok = meets_targets(served)
        line(
            f"    {served.concurrency} x {served.threads}: throughput "
            f"{'PASS' if ratio_ok else 'FAIL'} ({fmt(served.ratio, 3)}), /health "
            f"{'PASS' if health_ok else 'FAIL'} (p99 {fmt(served.health_p99_ms)} ms)"
        )
    if sweep:
        line()
        line(suggestion(http))


def suggestion(http: Sequence[HttpResult]) -> str:
    eligible = sorted(
        (r for r in http if meets_targets(r)[1] and not r.detect_errors),
        key=lambda r: r.images_per_s,
        reverse=True,
    )
    if not eligible:
        return "Suggested default: none of the pairs kept /health p99 within its target."
    best = eligible[0]
    text = (
        f"Suggested default (fastest with /health p99 within target): "
        f"ROADHAZARD_INFERENCE_CONCURRENCY={best.concurrency} "
        f"ROADHAZARD_INFERENCE_THREADS={best.threads} ({best.images_per_s:.1f} images/s)"
    )
    if len(eligible) > 1:
        runner_up = eligible[1]
        gap = 1 - runner_up.images_per_s / best.images_per_s
        text += (
            f"; runner-up {runner_up.concurrency} x {runner_up.threads} is {gap:.1%} slower"
            " (check the 'others' CPU column before trusting a gap of a few percent)"
        )
    return text


def summary(
    header: dict[str, Any],
    bare: Sequence[BareResult],
    best: BareResult,
    http: Sequence[HttpResult],
    sweep: bool,
) -> dict[str, Any]:
    """What `--json` prints: every figure of the report, plus the verdicts."""
    result: dict[str, Any] = {
        "header": header,
        "targets": {"ratio": RATIO_TARGET, "health_p99_ms": HEALTH_P99_TARGET_MS},
        "bare": [asdict(r) | {"cpu_others": r.cpu.others} for r in bare],
        "bare_best": {"callers": best.callers, "threads": best.threads},
        "http": [
            asdict(r)
            | {
                "cpu_others": r.cpu.others,
                "ratio_ok": meets_targets(r)[0],
                "health_ok": meets_targets(r)[1],
            }
            for r in http
        ],
    }
    if sweep:
        result["suggestion"] = suggestion(http)
    return result
