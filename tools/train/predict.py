"""Decoding of the Ultralytics raw layout and an onnxruntime predictor for evaluation.

Mirrors what Ultralytics does at inference (letterbox with grey 114 padding, best class per
cell, class-aware NMS) so metrics measured here match what a service decoding the same
ONNX file would see. Needs no torch.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from roadhazard.evaluation.metrics import Prediction

PAD_VALUE = 114


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """(1, 3, S, S) float32 input, the resize ratio and the (left, top) padding."""
    height, width = rgb.shape[:2]
    ratio = min(size / height, size / width)
    new_w, new_h = round(width * ratio), round(height * ratio)
    left, top = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[top : top + new_h, left : left + new_w] = resized
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return tensor, ratio, (left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(int(best))
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
        iou = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode_raw(
    output: np.ndarray,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.7,
    max_det: int = 300,
    max_candidates: int = 3000,
) -> np.ndarray:
    """(4 + nc, N) raw head output -> (K, 6) rows x1, y1, x2, y2, score, class."""
    boxes_cxcywh, class_scores = output[:4].T, output[4:].T
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    keep = scores > conf_threshold
    boxes_cxcywh, scores, classes = boxes_cxcywh[keep], scores[keep], classes[keep]
    top = np.argsort(-scores, kind="stable")[:max_candidates]
    boxes_cxcywh, scores, classes = boxes_cxcywh[top], scores[top], classes[top]
    half = boxes_cxcywh[:, 2:] / 2
    boxes = np.concatenate([boxes_cxcywh[:, :2] - half, boxes_cxcywh[:, :2] + half], axis=1)
    # Offsetting each class far apart turns one NMS pass into a class-aware one.
    offset_boxes = boxes + classes[:, None] * 7680.0
    kept = nms(offset_boxes, scores, iou_threshold)[:max_det]
    return np.concatenate(
        [boxes[kept], scores[kept, None], classes[kept, None].astype(np.float32)], axis=1
    ).reshape(-1, 6)


def to_predictions(
    rows: np.ndarray, ratio: float, pad: tuple[int, int], width: int, height: int
) -> list[Prediction]:
    predictions = []
    for x1, y1, x2, y2, score, class_id in rows:
        predictions.append(
            Prediction(
                class_id=int(class_id),
                confidence=float(score),
                x1=float(np.clip((x1 - pad[0]) / ratio, 0, width)),
                y1=float(np.clip((y1 - pad[1]) / ratio, 0, height)),
                x2=float(np.clip((x2 - pad[0]) / ratio, 0, width)),
                y2=float(np.clip((y2 - pad[1]) / ratio, 0, height)),
            )
        )
    return predictions


class OnnxPredictor:
    """``predict(path) -> predictions`` over an Ultralytics-raw-layout ONNX file."""

    def __init__(self, model_path: Path, conf_threshold: float = 0.001, iou: float = 0.7):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.size = int(self.session.get_inputs()[0].shape[2])
        self.conf_threshold = conf_threshold
        self.iou = iou

    def __call__(self, image_path: Path) -> list[Prediction]:
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode image {image_path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        tensor, ratio, pad = letterbox(rgb, self.size)
        (output,) = self.session.run(["output0"], {"images": tensor})
        rows = decode_raw(output[0], self.conf_threshold, self.iou)
        return to_predictions(rows, ratio, pad, rgb.shape[1], rgb.shape[0])
