"""A temporal filter over the unknown band, against boiling.

A network run frame by frame answers slightly differently on each frame where nothing
moved, and the edge shimmers ("boils"). Each unknown pixel of frame t becomes a weighted
mean of its alpha over frames t-r .. t+r, each neighbour weighted by how alike the plate
looks there (a Gaussian of the RGB distance): where the plate is still, the weights are
near 1 and the noise averages out; where something moved, the colours differ and the
pixel keeps its own value. A mean of alphas stays in [0, 1]; known pixels are untouched.

Frames stream through a window of 2r+1 frames, so memory does not grow with the clip. The
window at the clip's ends is cut short, the same way in every run, so that frame-range
chunks and resumed runs give the frames a single pass gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

SIGMA = 0.05  # RGB distance (0..1) at which a neighbour's weight falls to exp(-1/2)


@dataclass
class Sample:
    """One frame's network-size alpha, the image it came from, and its unknown pixels."""

    alpha: torch.Tensor  # HxW
    image: torch.Tensor  # 3xHxW, 0..1
    unknown: torch.Tensor  # HxW bool


def blend(center: Sample, neighbours: list[Sample]) -> torch.Tensor:
    """``center``'s alpha with its unknown pixels averaged over ``neighbours`` (computed
    on those pixels only: the band is a small part of the frame)."""
    where = center.unknown.flatten().nonzero()[:, 0]
    if where.numel() == 0 or not neighbours:
        return center.alpha

    def band(sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        return sample.alpha.flatten()[where], sample.image.flatten(1)[:, where]

    total, colour = band(center)
    total = total.clone()
    weights = torch.ones_like(total)
    for other in neighbours:
        alpha, image = band(other)
        weight = torch.exp((image - colour).square().sum(dim=0) / (-2.0 * SIGMA * SIGMA))
        total += weight * alpha
        weights += weight
    result = center.alpha.clone()
    result.view(-1)[where] = total / weights
    return result


class Window:
    """Streams samples in (consecutive indices ``computed``) and filtered alphas out (for
    the indices ``wanted``); each output's window is its ``radius`` neighbours inside
    ``computed``, which the caller makes the clip's frames around ``wanted``."""

    def __init__(self, radius: int, computed: tuple[int, int], wanted: tuple[int, int]) -> None:
        self.radius = radius
        self.low, self.high = computed
        self.next, self.last = wanted
        self.held: dict[int, Sample] = {}

    def push(self, index: int, sample: Sample) -> Iterator[tuple[int, torch.Tensor]]:
        self.held[index] = sample
        while self.next <= self.last and min(self.high, self.next + self.radius) <= index:
            t = self.next
            around = range(max(self.low, t - self.radius), min(self.high, t + self.radius) + 1)
            yield t, blend(self.held[t], [self.held[k] for k in around if k != t])
            self.next += 1
            self.held.pop(t - self.radius, None)
