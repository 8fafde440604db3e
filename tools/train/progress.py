"""Progress on stderr: a bar with the loss, the speed and an ETA, and a line per epoch."""

from __future__ import annotations

import sys
import time

from tools.train.checkpoint import Progress

BAR_WIDTH = 24


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Redraws in place on a terminal; prints a plain line every ``every`` steps otherwise,
    so a log file of a background run still shows where it is."""

    def __init__(self, budget_s: float, planned_steps: int, every: int = 20) -> None:
        self.budget_s, self.planned_steps, self.every = budget_s, planned_steps, every
        self.interactive = sys.stderr.isatty()
        self.window_start = time.monotonic()
        self.window_images = 0
        self.box = self.cls = 0.0
        self.losses = 0

    def update(self, progress: Progress, done: float, box: float, cls: float, batch: int) -> None:
        self.box, self.cls, self.losses = self.box + box, self.cls + cls, self.losses + 1
        self.window_images += batch
        if progress.step % self.every and not self.interactive:
            return
        rate = self.window_images / max(time.monotonic() - self.window_start, 1e-6)
        eta = min(
            self.budget_s - progress.elapsed_s,
            (self.planned_steps - progress.step) * batch / max(rate, 1e-6),
        )
        filled = int(BAR_WIDTH * min(done, 1.0))
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * done:5.1f}% "
            f"epoch {progress.epoch} step {progress.step} "
            f"box {self.box / self.losses:.3f} cls {self.cls / self.losses:.3f} "
            f"{rate:.1f} img/s elapsed {clock(progress.elapsed_s)} ETA {clock(eta)}"
        )
        print(
            ("\r" if self.interactive else "") + line,
            end="" if self.interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    def finish_epoch(self, progress: Progress, metrics: dict[str, dict[str, float]]) -> None:
        summary = " | ".join(
            f"{name}: " + " ".join(f"{key} {value:.3f}" for key, value in values.items())
            for name, values in metrics.items()
        )
        log(("\n" if self.interactive else "") + f"epoch {progress.epoch} done | {summary}")
        self.window_start, self.window_images = time.monotonic(), 0
        self.box = self.cls = 0.0
        self.losses = 0
