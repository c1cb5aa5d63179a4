"""The guided filter (He, Sun and Tang), used to upsample an alpha computed at a reduced
size: its local linear model (alpha = a * luma + b) is fitted at the small size and
applied to the full-size plate, so edges follow the plate's detail instead of a blurry
resize. Box filters are average pools (edges averaged over the pixels inside the image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Rec.709 luma weights: the guide is the plate's luma.
LUMA = (0.2126, 0.7152, 0.0722)


def luma(image: torch.Tensor) -> torch.Tensor:
    """HxW luma of a 3xHxW image."""
    weights = torch.tensor(LUMA, dtype=image.dtype, device=image.device)
    return torch.einsum("chw,c->hw", image, weights)


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window of an HxW tensor, counting only pixels inside."""
    return F.avg_pool2d(
        x[None, None], 2 * radius + 1, stride=1, padding=radius, count_include_pad=False
    )[0, 0]


def guided_upsample(
    alpha: torch.Tensor,
    guide_small: torch.Tensor,
    guide_full: torch.Tensor,
    radius: int = 2,
    eps: float = 1e-4,
) -> torch.Tensor:
    """``alpha`` (hxw, computed against ``guide_small``) at the size of ``guide_full``
    (HxW); both guides are luma. Not clipped: the caller clips and restores known pixels."""
    mean_i = box(guide_small, radius)
    mean_p = box(alpha, radius)
    cov = box(guide_small * alpha, radius) - mean_i * mean_p
    var = box(guide_small * guide_small, radius) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    ab = torch.stack([box(a, radius), box(b, radius)])[None]
    size = tuple(guide_full.shape[-2:])
    a_full, b_full = F.interpolate(ab, size=size, mode="bilinear", align_corners=False)[0]
    return a_full * guide_full + b_full
