"""The trimap of a binary mask: known foreground, known background, an unknown band.

The band is ``band`` pixels each side of the mask's edge: the mask eroded by ``band`` is
known foreground (255), everything farther than ``band`` outside it is known background
(0), and the rest is unknown (128, VitMatte's convention). Beyond the frame's edge there
is nothing: a mask touching the edge is not eroded from that side. Erosion and dilation
alternate 3x3 square and cross steps, an octagon close to a disc of radius ``band``, at
the cost of ``band`` cheap max-pools instead of one large kernel.
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
    """uint8 trimap (0, 128, 255) of a bool mask with an unknown band of ``band`` px.

    Only the mask's bounding box grown by ``band + 1`` can change: the morphology runs
    there (an object a third of the frame wide costs a tenth of the frame's work)."""
    trimap = torch.full(mask.shape, BACKGROUND, dtype=torch.uint8, device=mask.device)
    rows = mask.any(dim=1).nonzero()
    if rows.numel() == 0:
        return trimap
    columns = mask.any(dim=0).nonzero()
    height, width = mask.shape
    top, bottom = max(0, int(rows[0]) - band - 1), min(height, int(rows[-1]) + band + 2)
    left, right = max(0, int(columns[0]) - band - 1), min(width, int(columns[-1]) + band + 2)
    box = mask[top:bottom, left:right]
    inside = ~grow(~box, band)
    outside = ~grow(box, band)
    part = torch.full(box.shape, UNKNOWN, dtype=torch.uint8, device=mask.device)
    part[inside] = FOREGROUND
    part[outside] = BACKGROUND
    trimap[top:bottom, left:right] = part
    return trimap


def known_alpha(trimap: torch.Tensor) -> torch.Tensor:
    """The alpha the trimap fixes: 1 in known foreground, 0 elsewhere (float32)."""
    return (trimap == FOREGROUND).float()
