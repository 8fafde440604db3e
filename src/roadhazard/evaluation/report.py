"""Evaluate a detector over a YOLO dataset and present the result as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadhazard.evaluation.dataset import read_yolo_dataset
from roadhazard.evaluation.metrics import (
    GroundTruth,
    MetricsAccumulator,
    MetricsSummary,
    Prediction,
)
from roadhazard.taxonomy import load_taxonomy, normalize_name

Predict = Callable[[Path], Sequence[Prediction]]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class EvalReport:
    dataset: Path | str
    """The dataset's folder, or a label such as ``combined`` for several pooled."""
    split: str
    images: int
    class_names: tuple[str, ...]
    metrics: MetricsSummary
    ap_method: str = "all-point interpolation, COCO-style greedy matching"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "split": self.split,
            "images": self.images,
            "conf_threshold": self.metrics.conf_threshold,
            "class_thresholds": self.metrics.class_conf is not None,
            "ap_method": self.ap_method,
            "overall": {
                "precision": self.metrics.precision,
                "recall": self.metrics.recall,
                "f1": self.metrics.f1,
                "map50": self.metrics.map50,
                "map50_95": self.metrics.map50_95,
            },
            "classes": [
                {
                    "class_id": row.class_id,
                    "name": self.class_names[row.class_id],
                    "ground_truths": row.ground_truths,
                    "predictions": row.predictions,
                    "true_positives": row.true_positives,
                    "precision": row.precision,
                    "recall": row.recall,
                    "f1": row.f1,
                    "ap50": row.ap50,
                    "ap50_95": row.ap50_95,
                    "conf_threshold": row.conf_threshold,
                }
                for row in self.metrics.per_class
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _same_class(dataset_name: str, model_name: str) -> bool:
    if normalize_name(dataset_name) == normalize_name(model_name):
        return True
    taxonomy = load_taxonomy()
    dataset_hazard, model_hazard = taxonomy.match(dataset_name), taxonomy.match(model_name)
    return dataset_hazard is not None and dataset_hazard is model_hazard


def map_dataset_classes(
    dataset_names: Sequence[str], model_names: Sequence[str]
) -> tuple[dict[int, int], tuple[str, ...]]:
    """Map dataset class ids onto model class ids by name or shared taxonomy code.

    A dataset class the model does not know gets an id past the model's own, so its
    boxes count as misses rather than vanishing from the report.
    """
    names = list(model_names)
    mapping: dict[int, int] = {}
    for dataset_id, dataset_name in enumerate(dataset_names):
        match = next(
            (i for i, name in enumerate(model_names) if _same_class(dataset_name, name)), None
        )
        if match is None:
            names.append(dataset_name)
            match = len(names) - 1
        mapping[dataset_id] = match
    return mapping, tuple(names)


def evaluate(
    dataset_dir: Path,
    predict: Predict,
    class_names: Sequence[str],
    *,
    split: str = "val",
    dataset_class_names: Sequence[str] | None = None,
    conf_threshold: float = 0.25,
    class_conf: Mapping[int, float] | None = None,
    on_progress: ProgressCallback | None = None,
) -> EvalReport:
    """Run ``predict`` on every image of the split and score it against the labels.

    ``predict`` should return all detections above a low confidence (e.g. 0.001) so the
    AP curves are complete; P/R/F1 use only those at or above ``conf_threshold``, or at a
    class's own threshold in ``class_conf``.
    Dataset classes are matched to ``class_names`` by name or taxonomy code when the
    dataset's names are known (``data.yaml`` or ``dataset_class_names``), else by id.
    """
    accumulator = MetricsAccumulator(conf_threshold=conf_threshold, class_conf=class_conf)
    images, names = accumulate_dataset(
        dataset_dir,
        predict,
        class_names,
        accumulator,
        split=split,
        dataset_class_names=dataset_class_names,
        on_progress=on_progress,
    )
    return build_report(dataset_dir, split, images, names, accumulator)


def accumulate_dataset(
    dataset_dir: Path,
    predict: Predict,
    class_names: Sequence[str],
    accumulator: MetricsAccumulator,
    *,
    split: str = "val",
    dataset_class_names: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[int, tuple[str, ...]]:
    """Adds one dataset's predictions and labels to ``accumulator``.

    When the dataset's class names are known, only the model classes it names are scored:
    a dataset that never labels manhole covers cannot tell a found cover from a false one,
    so such predictions are left out rather than counted as false positives.

    Returns the image count and ``class_names`` extended by any dataset class they lack.
    """
    dataset = read_yolo_dataset(dataset_dir, split)
    known_names = dataset_class_names or dataset.class_names
    scored: set[int] | None = None
    if known_names is not None:
        id_map, all_names = map_dataset_classes(known_names, class_names)
        scored = set(id_map.values())
    else:
        id_map, all_names = {}, tuple(class_names)
    total = len(dataset.images)
    for done, image in enumerate(dataset.images, start=1):
        truths = [
            GroundTruth(id_map.get(t.class_id, t.class_id), t.x1, t.y1, t.x2, t.y2)
            for t in image.ground_truths
        ]
        predictions = [p for p in predict(image.path) if scored is None or p.class_id in scored]
        accumulator.add(predictions, truths)
        if on_progress is not None:
            on_progress(done, total)
    return total, all_names


def build_report(
    dataset: Path | str,
    split: str,
    images: int,
    class_names: Sequence[str],
    accumulator: MetricsAccumulator,
) -> EvalReport:
    summary = accumulator.summary()
    highest = max((row.class_id for row in summary.per_class), default=-1)
    names = tuple(class_names)
    names += tuple(f"class_{i}" for i in range(len(names), highest + 1))
    return EvalReport(dataset, split, images, names, summary)


def _cell(value: float | None) -> str:
    return "    -" if value is None else f"{value:.3f}"


def _threshold_note(metrics: MetricsSummary) -> str:
    if metrics.class_conf is None:
        return f"conf >= {metrics.conf_threshold:g}"
    return f"each class's own conf (column conf; {metrics.conf_threshold:g} where unset)"


def format_table(report: EvalReport) -> str:
    m = report.metrics
    # The conf column appears only with per-class thresholds, where it differs by class.
    per_class = m.class_conf is not None
    conf_header = f"{'conf':>7}" if per_class else ""
    header = (
        f"{'class':<22}{'labels':>7}{'preds':>7}{conf_header}{'P':>7}{'R':>7}{'F1':>7}"
        f"{'mAP50':>8}{'mAP50-95':>10}"
    )
    lines = [
        f"{report.dataset} [{report.split}], {report.images} images, "
        f"P/R/F1 at IoU 0.5 and {_threshold_note(m)}",
        header,
        "-" * len(header),
    ]
    for row in m.per_class:
        conf_cell = f"{row.conf_threshold:>7.3f}" if per_class else ""
        lines.append(
            f"{report.class_names[row.class_id][:21]:<22}{row.ground_truths:>7}"
            f"{row.predictions:>7}{conf_cell}{_cell(row.precision):>7}{_cell(row.recall):>7}"
            f"{_cell(row.f1):>7}{_cell(row.ap50):>8}{_cell(row.ap50_95):>10}"
        )
    labels = sum(r.ground_truths for r in m.per_class)
    preds = sum(r.predictions for r in m.per_class)
    lines.append("-" * len(header))
    lines.append(
        f"{'all':<22}{labels:>7}{preds:>7}{' ' * len(conf_header)}{_cell(m.precision):>7}"
        f"{_cell(m.recall):>7}{_cell(m.f1):>7}{_cell(m.map50):>8}{_cell(m.map50_95):>10}"
    )
    return "\n".join(lines)
