"""The trimap of a binary mask: known foreground, known background, an unknown band.

The band is ``band`` pixels each side of the mask's edge: the mask eroded by ``band`` is
known foreground (255), everything farther than ``band`` outside it is known background
(0), and the rest is unknown (128, VitMatte's convention). Erosion and dilation alternate
3x3 square and cross steps, an octagon close to a disc of radius ``band``, at the cost of
``band`` cheap max-pools instead of one large kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FOREGROUND = 255
UNKNOWN = 128
BACKGROUND = 0


def grow(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """``mask`` (bool, HxW) dilated by ``radius`` pixels (an octagonal neighbourhood)."""
    grown = mask[None, None].float()
    for step in range(radius):
        if step % 2 == 0:
            grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        else:  # a cross: the square's corners left out
            across = F.max_pool2d(grown, (1, 3), stride=1, padding=(0, 1))
            down = F.max_pool2d(grown, (3, 1), stride=1, padding=(1, 0))
            grown = torch.maximum(across, down)
    return grown[0, 0] > 0.5


def make_trimap(mask: torch.Tensor, band: int) -> torch.Tensor:
    """uint8 trimap (0, 128, 255) of a bool mask with an unknown band of ``band`` px."""
    inside = ~grow(~mask, band)
    outside = ~grow(mask, band)
    trimap = torch.full(mask.shape, UNKNOWN, dtype=torch.uint8, device=mask.device)
    trimap[inside] = FOREGROUND
    trimap[outside] = BACKGROUND
    return trimap


def known_alpha(trimap: torch.Tensor) -> torch.Tensor:
    """The alpha the trimap fixes: 1 in known foreground, 0 elsewhere (float32)."""
    return (trimap == FOREGROUND).float()
