"""CLI: evaluate an Ultralytics-raw-layout ONNX model on a YOLO dataset.

``python -m tools.train.evaluate --model M.onnx --data DIR [--split val] [--names Pothole]``

A stand-in for ``roadhazard eval`` that needs neither the service nor torch, used to
measure the numbers in the model card.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from roadhazard.evaluation import evaluate, format_table
from tools.train.predict import OnnxPredictor


def model_class_names(predictor: OnnxPredictor) -> list[str]:
    raw = predictor.session.get_modelmeta().custom_metadata_map["names"]
    names = ast.literal_eval(raw)
    return [str(names[i]) for i in sorted(names)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="dataset folder or data.yaml")
    parser.add_argument("--split", default="val")
    parser.add_argument("--names", nargs="*", help="dataset class names if it has no data.yaml")
    parser.add_argument("--conf", type=float, default=0.25, help="threshold for P/R/F1")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)

    predictor = OnnxPredictor(args.model)

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    report = evaluate(
        args.data,
        predictor,
        model_class_names(predictor),
        split=args.split,
        dataset_class_names=args.names,
        conf_threshold=args.conf,
        on_progress=progress,
    )
    print(file=sys.stderr)
    print(format_table(report))
    if args.json:
        args.json.write_text(report.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
