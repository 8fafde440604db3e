"""Checkpoints that a run can resume from: weights, EMA, optimiser, RNG and the clock.

A checkpoint is written to a temporary file and renamed, so a run killed mid-write leaves
the previous checkpoint intact. ``elapsed_s`` carries the training time already spent, so
a resumed run honours the original time budget instead of starting it again.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tools.train.model import Detector


class EMA:
    """Exponential moving average of weights; its ramp keeps early averages from lagging."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999, ramp: float = 500.0):
        self.model = copy.deepcopy(model).eval()
        self.decay, self.ramp, self.updates = decay, ramp, 0
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = self.decay * (1 - math.exp(-self.updates / self.ramp))
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)
            else:
                value.copy_(source[name])


@dataclass
class Progress:
    epoch: int = 0
    step: int = 0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Architecture:
    names: tuple[str, ...]
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    imgsz: int

    def build(self) -> Detector:
        return Detector(len(self.names), self.widths, self.depths)


def save(
    path: Path,
    arch: Architecture,
    model: torch.nn.Module,
    ema: EMA,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
    rng: np.random.Generator,
) -> None:
    state = {
        "arch": vars(arch),
        "model": model.state_dict(),
        "ema": ema.model.state_dict(),
        "ema_updates": ema.updates,
        "optimizer": optimizer.state_dict(),
        "progress": vars(progress),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def load(path: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state


def architecture_of(state: dict[str, Any]) -> Architecture:
    arch = state["arch"]
    return Architecture(
        tuple(arch["names"]), tuple(arch["widths"]), tuple(arch["depths"]), int(arch["imgsz"])
    )


def restore(
    state: dict[str, Any],
    model: torch.nn.Module,
    ema: EMA,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
) -> Progress:
    model.load_state_dict(state["model"])
    ema.model.load_state_dict(state["ema"])
    ema.updates = int(state["ema_updates"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return Progress(**state["progress"])


def save_weights(path: Path, arch: Architecture, ema: EMA) -> None:
    """The EMA weights alone, in fp16 (a quarter of a checkpoint): enough to export, score,
    or warm-start a later run with ``--init``, though not to resume one exactly."""
    weights = {
        k: v.half() if v.is_floating_point() else v for k, v in ema.model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": vars(arch), "ema": weights}, path)


def ema_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A checkpoint's or a weights file's EMA weights, in fp32."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state["ema"].items()}


def trained_detector(path: Path) -> tuple[Detector, Architecture]:
    """The EMA weights of a checkpoint or weights file, ready for evaluation or export."""
    state = load(path)
    arch = architecture_of(state)
    detector = arch.build()
    detector.load_state_dict(ema_weights(state))
    return detector.eval(), arch
