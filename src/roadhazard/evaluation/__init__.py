"""Detection metrics (P/R/F1, mAP50, mAP50-95), a YOLO dataset reader, evaluation on one or
several datasets, and the best-F1 per-class threshold picker."""

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
from roadhazard.evaluation.multi import (
    DatasetSpec,
    MultiEvalReport,
    evaluate_datasets,
    format_tables,
    parse_dataset_spec,
)
from roadhazard.evaluation.report import EvalReport, evaluate, format_table, map_dataset_classes
from roadhazard.evaluation.thresholds import ThresholdChoice, best_f1_thresholds

__all__ = [
    "ClassMetrics",
    "DatasetError",
    "DatasetSpec",
    "EvalReport",
    "GroundTruth",
    "LabelledImage",
    "MetricsAccumulator",
    "MetricsSummary",
    "MultiEvalReport",
    "Prediction",
    "ThresholdChoice",
    "YoloDataset",
    "average_precision",
    "best_f1_thresholds",
    "box_iou",
    "evaluate",
    "evaluate_datasets",
    "format_table",
    "format_tables",
    "map_dataset_classes",
    "parse_dataset_spec",
    "read_yolo_dataset",
]
