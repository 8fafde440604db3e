"""Default confidence thresholds: the per-class ones a model carries, and which one applies.

A trained model may carry ``class_conf`` in its metadata (ONNX metadata_props, or the
metadata.yaml beside an OpenVINO IR): a Python-literal dict of class id to threshold, e.g.
``"{0: 0.21, 1: 0.18}"``, picked per class for the best F1 on validation data. Without a
request ``conf``, the thresholds apply in this order: the ``ROADHAZARD_CONF_THRESHOLD``
setting, then the model's ``class_conf`` (a class it leaves out gets 0.25), then 0.25.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from roadhazard.detection.postprocess import Thresholds

log = structlog.get_logger(__name__)

BUILTIN_CONF = 0.25


class ConfSource(enum.StrEnum):
    SETTING = "setting"
    """ROADHAZARD_CONF_THRESHOLD, one threshold for every class."""
    MODEL = "model_metadata"
    """The model's own per-class ``class_conf``."""
    BUILTIN = "builtin"
    """Neither: Ultralytics' default of 0.25 for every class."""


class ClassConfError(ValueError):
    """The model's ``class_conf`` metadata is not a valid table of thresholds."""


def parse_class_conf(value: object, num_classes: int) -> dict[int, float]:
    """The validated ``class_conf`` table; a malformed one is logged and ignored.

    A bad table is a training-tool bug, not a reason to refuse a model that otherwise
    works, so the model then behaves as one without the key. It is dropped whole: a table
    that is partly wrong cannot be trusted for the classes that look right either.
    """
    if value is None:
        return {}
    try:
        return validate_class_conf(value, num_classes)
    except ClassConfError as exc:
        log.warning("model_class_conf_ignored", reason=str(exc))
        return {}


def validate_class_conf(value: object, num_classes: int) -> dict[int, float]:
    if not isinstance(value, Mapping):
        raise ClassConfError(f"class_conf must be a dict of class id to threshold, got {value!r}")
    table: dict[int, float] = {}
    for class_id, conf in value.items():
        # bool is an int subclass; True is no class id and no threshold.
        if isinstance(class_id, bool) or not isinstance(class_id, int):
            raise ClassConfError(f"class_conf key {class_id!r} is not a class id")
        if not 0 <= class_id < num_classes:
            raise ClassConfError(
                f"class_conf names class {class_id}; the model has {num_classes} classes"
            )
        if isinstance(conf, bool) or not isinstance(conf, int | float) or math.isnan(conf):
            raise ClassConfError(f"class_conf[{class_id}] = {conf!r} is not a number")
        if not 0.0 <= conf <= 1.0:
            raise ClassConfError(f"class_conf[{class_id}] = {conf} is outside [0, 1]")
        table[class_id] = float(conf)
    return table


@dataclass(frozen=True)
class DefaultConfidence:
    """The confidence thresholds a request without ``conf`` gets, and where they come from."""

    source: ConfSource
    per_class: dict[int, float]
    """Every model class's threshold, by class id."""
    fallback: float
    """The one threshold when the source is not the model; else what unlisted classes get."""

    def thresholds(self, iou: float, max_det: int) -> Thresholds:
        if self.source is not ConfSource.MODEL or not self.per_class:
            return Thresholds(conf=self.fallback, iou=iou, max_det=max_det)
        table = [self.per_class.get(i, self.fallback) for i in range(max(self.per_class) + 1)]
        return Thresholds.per_class(table, iou, max_det)


def resolve_default_confidence(
    setting: float | None, model_class_conf: Mapping[int, float], num_classes: int
) -> DefaultConfidence:
    """Setting over model metadata over 0.25 (a request's own ``conf`` beats all three)."""
    if setting is None and model_class_conf:
        table = {i: model_class_conf.get(i, BUILTIN_CONF) for i in range(num_classes)}
        return DefaultConfidence(ConfSource.MODEL, table, BUILTIN_CONF)
    source = ConfSource.BUILTIN if setting is None else ConfSource.SETTING
    conf = BUILTIN_CONF if setting is None else setting
    return DefaultConfidence(source, dict.fromkeys(range(num_classes), conf), conf)
