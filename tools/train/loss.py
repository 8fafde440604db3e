"""Task-aligned assignment and the detection loss (BCE on IoU-aware targets + CIoU).

The assigner picks, for every ground-truth box, the top-k anchor cells whose centre lies
inside the box and whose ``score**alpha * iou**beta`` is highest, so cells that already
classify *and* localise well become positives. Class targets are that alignment metric
rescaled per box to its best IoU, which makes scores double as localisation quality and
keeps NMS ranking sensible without an objectness branch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-9


def pairwise_ciou(box_a: torch.Tensor, box_b: torch.Tensor) -> torch.Tensor:
    """CIoU of matching rows of two (..., 4) xyxy tensors."""
    ax1, ay1, ax2, ay2 = box_a.unbind(-1)
    bx1, by1, bx2, by2 = box_b.unbind(-1)
    inter = (torch.min(ax2, bx2) - torch.max(ax1, bx1)).clamp(0) * (
        torch.min(ay2, by2) - torch.max(ay1, by1)
    ).clamp(0)
    aw, ah = ax2 - ax1, (ay2 - ay1).clamp(min=EPS)
    bw, bh = bx2 - bx1, (by2 - by1).clamp(min=EPS)
    union = aw * ah + bw * bh - inter + EPS
    iou = inter / union
    enclose_w = torch.max(ax2, bx2) - torch.min(ax1, bx1)
    enclose_h = torch.max(ay2, by2) - torch.min(ay1, by1)
    diagonal = enclose_w**2 + enclose_h**2 + EPS
    centre_dist = ((ax1 + ax2 - bx1 - bx2) ** 2 + (ay1 + ay2 - by1 - by2) ** 2) / 4
    aspect = (4 / math.pi**2) * (torch.atan(bw / bh) - torch.atan(aw / ah)) ** 2
    with torch.no_grad():
        alpha = aspect / (aspect - iou + (1 + EPS))
    return iou - (centre_dist / diagonal + aspect * alpha)


def box_iou_grid(gt: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """IoU of (B, M, 4) ground truth against (B, N, 4) predictions, shape (B, M, N)."""
    gt_ = gt[:, :, None]
    pred_ = pred[:, None]
    top_left = torch.max(gt_[..., :2], pred_[..., :2])
    bottom_right = torch.min(gt_[..., 2:], pred_[..., 2:])
    inter = (bottom_right - top_left).clamp(0).prod(-1)
    area_gt = (gt_[..., 2:] - gt_[..., :2]).clamp(0).prod(-1)
    area_pred = (pred_[..., 2:] - pred_[..., :2]).clamp(0).prod(-1)
    return inter / (area_gt + area_pred - inter + EPS)


@dataclass(frozen=True)
class Assignment:
    target_boxes: torch.Tensor  # (B, N, 4)
    target_scores: torch.Tensor  # (B, N, C)
    foreground: torch.Tensor  # (B, N) bool


@torch.no_grad()
def assign(
    scores: torch.Tensor,
    pred_boxes: torch.Tensor,
    centres: torch.Tensor,
    strides: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_classes: torch.Tensor,
    gt_valid: torch.Tensor,
    top_k: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> Assignment:
    batch, n_anchors, n_classes = scores.shape
    n_gt = gt_boxes.shape[1]
    if n_gt == 0:
        return Assignment(
            torch.zeros_like(pred_boxes),
            torch.zeros_like(scores),
            torch.zeros(batch, n_anchors, dtype=torch.bool, device=scores.device),
        )
    inside_lt = centres[None, None] - gt_boxes[:, :, None, :2]
    inside_rb = gt_boxes[:, :, None, 2:] - centres[None, None]
    inside = torch.cat([inside_lt, inside_rb], -1).amin(-1) > EPS  # (B, M, N)
    # Thin boxes (a transverse crack a few pixels high) may contain no cell centre at all;
    # cells near the box centre are candidates too so such objects are still learned.
    gt_centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
    offset = (centres[None, None] - gt_centres[:, :, None]).abs()
    near_centre = (offset < 1.5 * strides[None, None]).all(-1)
    candidates = (inside | near_centre) & gt_valid[:, :, None]

    ious = box_iou_grid(gt_boxes, pred_boxes) * candidates
    class_index = gt_classes.clamp(min=0)[:, :, None].expand(-1, -1, n_anchors)
    class_scores = scores.transpose(1, 2).gather(1, class_index)  # (B, M, N)
    alignment = class_scores.pow(alpha) * ious.pow(beta) * candidates

    k = min(top_k, n_anchors)
    top_idx = alignment.topk(k, dim=-1).indices
    in_top = torch.zeros_like(candidates).scatter_(-1, top_idx, True)
    positive = in_top & candidates

    # A cell claimed by several boxes keeps only the box it overlaps most.
    multi = positive.sum(1, keepdim=True) > 1
    best_gt = F.one_hot(ious.argmax(1), n_gt).transpose(1, 2).bool()
    positive = torch.where(multi, best_gt & candidates, positive)

    foreground = positive.any(1)
    gt_index = positive.float().argmax(1)  # (B, N)
    batch_index = torch.arange(batch, device=scores.device)[:, None]
    target_boxes = gt_boxes[batch_index, gt_index]
    target_classes = gt_classes[batch_index, gt_index].clamp(min=0)

    alignment = alignment * positive
    best_alignment = alignment.amax(-1, keepdim=True)
    best_iou = (ious * positive).amax(-1, keepdim=True)
    quality = (alignment * best_iou / (best_alignment + EPS)).amax(1)  # (B, N)
    target_scores = F.one_hot(target_classes, n_classes).float()
    target_scores = target_scores * (quality * foreground)[..., None]
    return Assignment(target_boxes, target_scores, foreground)


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    box: float
    cls: float


def detection_loss(
    distances: torch.Tensor,
    logits: torch.Tensor,
    centres: torch.Tensor,
    strides: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_classes: torch.Tensor,
    gt_valid: torch.Tensor,
    label_mask: torch.Tensor | None = None,
    box_weight: float = 7.5,
    cls_weight: float = 0.5,
) -> LossParts:
    """``label_mask`` (B, C) is 1 where an image's dataset labels a class. Classes its
    dataset never labels get no classification loss at all, positive or negative: an
    unlabelled crack in a pothole photo must not be taught as background."""
    scaled = distances * strides
    pred_boxes = torch.cat([centres - scaled[..., :2], centres + scaled[..., 2:]], -1)
    assignment = assign(
        logits.detach().sigmoid(),
        pred_boxes.detach(),
        centres,
        strides,
        gt_boxes,
        gt_classes,
        gt_valid,
    )
    norm = assignment.target_scores.sum().clamp(min=1.0)
    per_cell = F.binary_cross_entropy_with_logits(
        logits, assignment.target_scores, reduction="none"
    )
    if label_mask is not None:
        per_cell = per_cell * label_mask[:, None, :]
    cls_loss = per_cell.sum() / norm
    fg = assignment.foreground
    if fg.any():
        weight = assignment.target_scores.sum(-1)[fg]
        ciou = pairwise_ciou(pred_boxes[fg], assignment.target_boxes[fg])
        box_loss = ((1.0 - ciou) * weight).sum() / norm
    else:
        box_loss = pred_boxes.sum() * 0.0
    total = (box_weight * box_loss + cls_weight * cls_loss) * logits.shape[0]
    return LossParts(total, float(box_loss.detach()), float(cls_loss.detach()))
