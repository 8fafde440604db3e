"""A compact anchor-free YOLO-style detector.

CSP-style backbone (C2f-like blocks) -> PAN neck -> decoupled head at strides 8/16/32.
Boxes are plain left/top/right/bottom distances from each grid-cell centre (softplus, in
units of the stride), scores are one sigmoid per class with no objectness, which is
exactly what Ultralytics' raw YOLOv8 export layout expects downstream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDES = (8, 16, 32)


class ConvBnAct(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, channels: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(channels, channels, 3)
        self.conv2 = ConvBnAct(channels, channels, 3)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.residual else y


class CSPBlock(nn.Module):
    """Split, run a chain of bottlenecks on one half, concatenate every intermediate."""

    def __init__(self, c_in: int, c_out: int, depth: int, residual: bool = True) -> None:
        super().__init__()
        self.hidden = c_out // 2
        self.split = ConvBnAct(c_in, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, residual) for _ in range(depth))
        self.merge = ConvBnAct((2 + depth) * self.hidden, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.split(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.merge(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = ConvBnAct(channels, channels // 2, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.expand = ConvBnAct(channels * 2, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.reduce(x)
        b = self.pool(a)
        c = self.pool(b)
        return self.expand(torch.cat([a, b, c, self.pool(c)], dim=1))


DEFAULT_DEPTHS = (1, 2, 2, 1)


class Detector(nn.Module):
    """``widths``: channels of the stem and the four stages; ``depths``: bottlenecks in the
    CSP block of each backbone stage (stride 4, 8, 16, 32)."""

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64, 128, 192),
        depths: tuple[int, ...] = DEFAULT_DEPTHS,
    ) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        d2, d3, d4, d5 = depths
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            ConvBnAct(3, w0, 3, 2), ConvBnAct(w0, w1, 3, 2), CSPBlock(w1, w1, d2)
        )
        self.stage3 = nn.Sequential(ConvBnAct(w1, w2, 3, 2), CSPBlock(w2, w2, d3))
        self.stage4 = nn.Sequential(ConvBnAct(w2, w3, 3, 2), CSPBlock(w3, w3, d4))
        self.stage5 = nn.Sequential(ConvBnAct(w3, w4, 3, 2), CSPBlock(w4, w4, d5), SPPF(w4))
        self.top_down4 = CSPBlock(w4 + w3, w3, 1, residual=False)
        self.top_down3 = CSPBlock(w3 + w2, w2, 1, residual=False)
        self.down3 = ConvBnAct(w2, w2, 3, 2)
        self.bottom_up4 = CSPBlock(w2 + w3, w3, 1, residual=False)
        self.down4 = ConvBnAct(w3, w3, 3, 2)
        self.bottom_up5 = CSPBlock(w3 + w4, w4, 1, residual=False)
        head_width = max(w2, 48)
        self.box_heads = nn.ModuleList(self._branch(c, head_width, 4) for c in (w2, w3, w4))
        self.cls_heads = nn.ModuleList(
            self._branch(c, head_width, num_classes) for c in (w2, w3, w4)
        )
        self._init_biases()

    @staticmethod
    def _branch(c_in: int, width: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(
            ConvBnAct(c_in, width), ConvBnAct(width, width), nn.Conv2d(width, c_out, 1)
        )

    def _init_biases(self) -> None:
        for stride, head in zip(STRIDES, self.cls_heads, strict=True):
            final = head[-1]
            assert isinstance(final, nn.Conv2d)
            assert final.bias is not None
            # Start with a prior of roughly a few objects per 320px image, as YOLOv8 does,
            # so early classification loss is not dominated by the all-background cells.
            prior = 5 / self.num_classes / (320 / stride) ** 2
            nn.init.constant_(final.bias, float(torch.logit(torch.tensor(prior))))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        c2 = self.stem(x)
        p3 = self.stage3(c2)
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.top_down4(torch.cat([F.interpolate(p5, scale_factor=2.0), p4], dim=1))
        t3 = self.top_down3(torch.cat([F.interpolate(t4, scale_factor=2.0), p3], dim=1))
        b4 = self.bottom_up4(torch.cat([self.down3(t3), t4], dim=1))
        b5 = self.bottom_up5(torch.cat([self.down4(b4), p5], dim=1))
        return [t3, b4, b5]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs: ltrb distances in stride units (B, N, 4) and class logits (B, N, C)."""
        distances, logits = [], []
        for feature, box_head, cls_head in zip(
            self.features(x), self.box_heads, self.cls_heads, strict=True
        ):
            distances.append(F.softplus(box_head(feature)).flatten(2))
            logits.append(cls_head(feature).flatten(2))
        return torch.cat(distances, 2).transpose(1, 2), torch.cat(logits, 2).transpose(1, 2)


def make_anchors(image_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (N, 2) in input pixels and their strides (N, 1), level by level."""
    centres, strides = [], []
    for stride in STRIDES:
        cells = image_size // stride
        coords = (torch.arange(cells, device=device, dtype=torch.float32) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(coords, coords, indexing="ij")
        centres.append(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
        strides.append(torch.full((cells * cells, 1), float(stride), device=device))
    return torch.cat(centres), torch.cat(strides)


def decode_xyxy(
    distances: torch.Tensor, centres: torch.Tensor, strides: torch.Tensor
) -> torch.Tensor:
    scaled = distances * strides
    return torch.cat([centres - scaled[..., :2], centres + scaled[..., 2:]], dim=-1)


class ExportWrapper(nn.Module):
    """Produces the Ultralytics raw layout: (1, 4 + nc, N) rows cx, cy, w, h, scores."""

    def __init__(self, detector: Detector, image_size: int) -> None:
        super().__init__()
        self.detector = detector
        centres, strides = make_anchors(image_size, torch.device("cpu"))
        self.register_buffer("centres", centres)
        self.register_buffer("strides", strides)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        distances, logits = self.detector(images)
        scaled = distances * self.strides
        left_top, right_bottom = scaled[..., :2], scaled[..., 2:]
        centre = self.centres + (right_bottom - left_top) / 2
        size = left_top + right_bottom
        return torch.cat([centre, size, logits.sigmoid()], dim=-1).transpose(1, 2)
