"""Joining depth predictions made separately: least-squares scale/shift and cross-fades.

Relative (affine-invariant) predictions from two windows or two chunks agree only up to a
scale and a shift; fitting those on frames both saw, then cross-fading over the shared
frames, joins them without a visible step. Used for windows (``windows``) and for
frame-range chunks (``stitch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Affine:
    scale: float = 1.0
    shift: float = 0.0

    def apply(self, depth: Tensor) -> Tensor:
        """Scaled and shifted depth, clamped at zero (neither disparity nor depth is negative)."""
        if self.scale == 1.0 and self.shift == 0.0:
            return depth
        return (depth * self.scale + self.shift).clamp_(min=0.0)

    def then(self, other: Affine) -> Affine:
        """This transform followed by ``other``."""
        return Affine(self.scale * other.scale, self.shift * other.scale + other.shift)


IDENTITY = Affine()


class ScaleShiftFit:
    """Accumulates the normal equations of ``min sum (s * pred + t - target)^2`` frame by
    frame (in float64), so a fit over many full-resolution frames never holds them all."""

    def __init__(self) -> None:
        self.pp = self.p = self.pt = self.t = self.n = 0.0

    def add(self, pred: Tensor, target: Tensor) -> None:
        p, t = pred.double().flatten(), target.double().flatten()
        if p.shape != t.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
        self.pp += float(p @ p)
        self.p += float(p.sum())
        self.pt += float(p @ t)
        self.t += float(t.sum())
        self.n += p.numel()

    def solve(self) -> Affine:
        det = self.pp * self.n - self.p * self.p
        # A constant prediction (flat frames, an all-zero output) has no defined scale:
        # keep it as it is rather than divide by ~0.
        if self.n == 0 or det <= 1e-12 * max(self.pp * self.n, 1e-300):
            return IDENTITY
        scale = (self.n * self.pt - self.p * self.t) / det
        shift = (self.pp * self.t - self.p * self.pt) / det
        return Affine(scale, shift)


def fit_scale_shift(preds: Sequence[Tensor], targets: Sequence[Tensor]) -> Affine:
    fit = ScaleShiftFit()
    for pred, target in zip(preds, targets, strict=True):
        fit.add(pred, target)
    return fit.solve()


def crossfade_weights(count: int) -> list[float]:
    """Weight of the newer prediction on each of ``count`` shared frames: 0 on the first
    (all old), rising linearly to 1 on the last (all new)."""
    if count <= 0:
        return []
    if count == 1:
        return [1.0]
    return [i / (count - 1) for i in range(count)]


def blend(old: Tensor, new: Tensor, weight: float) -> Tensor:
    return old * (1.0 - weight) + new * weight
