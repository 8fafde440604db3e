"""One model on several YOLO datasets: each scored on its own, and all of them pooled."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadhazard.evaluation.dataset import DatasetError
from roadhazard.evaluation.metrics import MetricsAccumulator
from roadhazard.evaluation.report import (
    EvalReport,
    Predict,
    accumulate_dataset,
    build_report,
    format_table,
)

COMBINED = "combined"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A dataset folder (or its data.yaml) and, where it has no data.yaml, its class names."""

    path: Path
    names: tuple[str, ...] | None = None


def parse_dataset_spec(text: str) -> DatasetSpec:
    """``PATH`` or ``PATH:NAME[,NAME...]``.

    A path that exists is taken whole, so a folder with a colon in its name still works.
    """
    if Path(text).exists() or ":" not in text:
        return DatasetSpec(Path(text))
    location, _, listed = text.rpartition(":")
    names = tuple(name.strip() for name in listed.split(",") if name.strip())
    if not location or not names:
        raise DatasetError(f"expected PATH or PATH:NAME[,NAME...], got {text!r}")
    return DatasetSpec(Path(location), names)


# Called with the dataset being read, images done, and images in it.
DatasetProgress = Callable[[DatasetSpec, int, int], None]


@dataclass(frozen=True, slots=True)
class MultiEvalReport:
    datasets: tuple[EvalReport, ...]
    combined: EvalReport
    """Every dataset's images pooled: per-class P/R/F1 and AP over all of them at once."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": [report.to_dict() for report in self.datasets],
            "combined": self.combined.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def evaluate_datasets(
    datasets: Sequence[DatasetSpec],
    predict: Predict,
    class_names: Sequence[str],
    *,
    split: str = "val",
    conf_threshold: float = 0.25,
    class_conf: Mapping[int, float] | None = None,
    on_progress: DatasetProgress | None = None,
) -> MultiEvalReport:
    """Scores ``predict`` on each dataset, then on all of them together.

    Each image is predicted and matched once; the pooled result reuses those matches.
    """
    combined = MetricsAccumulator(conf_threshold=conf_threshold, class_conf=class_conf)
    names = tuple(class_names)
    done: list[tuple[DatasetSpec, int, MetricsAccumulator]] = []
    for spec in datasets:
        accumulator = MetricsAccumulator(conf_threshold=conf_threshold, class_conf=class_conf)
        # Each dataset's classes are matched against the names so far, so a class the model
        # lacks gets one id however many datasets label it.
        images, names = accumulate_dataset(
            spec.path,
            predict,
            names,
            accumulator,
            split=split,
            dataset_class_names=spec.names,
            on_progress=_bound(on_progress, spec),
        )
        combined.extend(accumulator)
        done.append((spec, images, accumulator))
    reports = tuple(build_report(s.path, split, n, names, acc) for s, n, acc in done)
    total = sum(report.images for report in reports)
    return MultiEvalReport(reports, build_report(COMBINED, split, total, names, combined))


def _bound(on_progress: DatasetProgress | None, spec: DatasetSpec) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(spec, done, total)

    return report


def format_tables(report: MultiEvalReport) -> str:
    """One table per dataset, then the pooled one."""
    return "\n\n".join(format_table(r) for r in (*report.datasets, report.combined))
