"""Detection metrics (P/R/F1, mAP50, mAP50-95), a YOLO dataset reader and evaluate()."""

from roadhazard.evaluation.dataset import (
    DatasetError,
    LabelledImage,
    YoloDataset,
    read_yolo_dataset,
)
from roadhazard.evaluation.metrics import (
    ClassMetrics,
    GroundTruth,
    MetricsAccumulator,
    MetricsSummary,
    Prediction,
    average_precision,
    box_iou,
)
from roadhazard.evaluation.report import EvalReport, evaluate, format_table, map_dataset_classes

__all__ = [
    "ClassMetrics",
    "DatasetError",
    "EvalReport",
    "GroundTruth",
    "LabelledImage",
    "MetricsAccumulator",
    "MetricsSummary",
    "Prediction",
    "YoloDataset",
    "average_precision",
    "box_iou",
    "evaluate",
    "format_table",
    "map_dataset_classes",
    "read_yolo_dataset",
]
