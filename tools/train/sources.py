"""Several YOLO datasets as one training set: class mapping, partial labels and sampling.

Each dataset names its own classes (``data.yaml``, or names given on the command line). They
are mapped onto the model's classes through the hazard taxonomy, so ``Pothole`` and ``D40``
land on the same output. A dataset *labels* only the classes its names map to: the pothole
photos never label cracks and RDD2022 never labels manhole covers, so a crack in a pothole
photo is unlabelled, not background. ``SourceDataset.labelled`` records that, and the loss
uses it to leave the unlabelled classes of an image out of the classification loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roadhazard.taxonomy.service import load_taxonomy


class DatasetSpecError(ValueError):
    """A ``--data`` value or a dataset's class names cannot be used."""


@dataclass(frozen=True)
class DatasetSpec:
    """One ``--data DIR[:NAME,NAME...][*WEIGHT]`` argument."""

    location: Path
    names: tuple[str, ...] | None = None  # overrides the dataset's data.yaml names
    weight: float = 1.0  # how often its images are drawn, relative to the others

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        body, _, weight_text = text.partition("*")
        location, _, names_text = body.partition(":")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise DatasetSpecError(f"{text!r}: weight {weight_text!r} is not a number") from None
        if not weight > 0:
            raise DatasetSpecError(f"{text!r}: weight must be positive")
        names = tuple(n.strip() for n in names_text.split(",") if n.strip()) or None
        return cls(Path(location), names, weight)


@dataclass(frozen=True)
class SourceDataset:
    """A dataset as the model sees it: its class mapping and the classes it labels."""

    name: str
    class_map: dict[int, int]  # the dataset's class id -> the model's class id
    labelled: frozenset[int]  # the model classes this dataset labels
    weight: float = 1.0
    synthetic: bool = False  # drawn scenes: used for a class only where no photos label it

    def label_mask(self, num_classes: int) -> np.ndarray:
        """(num_classes,) float32: 1 where this dataset's labels are complete."""
        mask = np.zeros(num_classes, np.float32)
        mask[sorted(self.labelled)] = 1.0
        return mask


def map_class_names(
    dataset_names: Sequence[str], model_names: Sequence[str], dataset: str
) -> dict[int, int]:
    """Map each of a dataset's class names to a model class through the taxonomy."""
    taxonomy = load_taxonomy()
    model_index: dict[str, int] = {}
    for index, name in enumerate(model_names):
        hazard = taxonomy.match(name)
        if hazard is None:
            raise DatasetSpecError(f"model class {name!r} is not a hazard in the taxonomy")
        model_index[hazard.code] = index
    mapping: dict[int, int] = {}
    for class_id, name in enumerate(dataset_names):
        hazard = taxonomy.match(name)
        if hazard is None:
            raise DatasetSpecError(
                f"{dataset}: class {name!r} matches no hazard of the taxonomy; "
                "name the classes with --data DIR:NAME,NAME..."
            )
        if hazard.code not in model_index:
            raise DatasetSpecError(f"{dataset}: class {name!r} ({hazard.code}) is not trained")
        mapping[class_id] = model_index[hazard.code]
    return mapping


def source_for(
    spec: DatasetSpec, yaml_names: Sequence[str] | None, model_names: Sequence[str]
) -> SourceDataset:
    names = spec.names or yaml_names
    if not names:
        raise DatasetSpecError(
            f"{spec.location}: no data.yaml names its classes; use --data DIR:NAME,NAME..."
        )
    mapping = map_class_names(names, model_names, str(spec.location))
    return SourceDataset(spec.location.name, mapping, frozenset(mapping.values()), spec.weight)


def repeat_factors(
    image_classes: Sequence[frozenset[int]],
    image_sources: Sequence[int],
    sources: Sequence[SourceDataset],
    threshold: float = 0.3,
) -> np.ndarray:
    """LVIS-style repeat factors, so images with rare classes are drawn more often.

    A class's frequency is the fraction of the images *that label it* in which it appears
    (a crack is not rare just because the pothole photos never label cracks). An image's
    factor is ``max(1, sqrt(threshold / frequency))`` of its rarest class, times its
    dataset's weight; background images keep their dataset's weight.
    """
    num_classes = 1 + max((c for s in sources for c in s.labelled), default=0)
    labelling = np.zeros(num_classes)
    containing = np.zeros(num_classes)
    for classes, source in zip(image_classes, image_sources, strict=True):
        for class_id in sources[source].labelled:
            labelling[class_id] += 1
        for class_id in classes:
            containing[class_id] += 1
    frequency = np.where(labelling > 0, containing / np.maximum(labelling, 1), 1.0)
    class_factor = np.maximum(1.0, np.sqrt(threshold / np.maximum(frequency, 1e-9)))
    factors = np.ones(len(image_classes))
    for index, (classes, source) in enumerate(zip(image_classes, image_sources, strict=True)):
        rarest = max((class_factor[c] for c in classes), default=1.0)
        factors[index] = rarest * sources[source].weight
    return factors
