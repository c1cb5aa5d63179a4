"""Mask clean-up after the threshold: grow or shrink, fill small holes, drop small islands.

Distances are Euclidean (a disc, not a square), from scipy's exact distance transform, so
growing by 3 pixels moves every edge by 3 pixels in every direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cleanup:
    grow: int = 0  # pixels; negative shrinks
    fill_holes: int = 0  # fill enclosed holes smaller than this many pixels
    min_area: int = 0  # drop islands smaller than this many pixels

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """The cleaned HxW bool mask (the input is not modified)."""
        if self.fill_holes:
            mask = fill_holes(mask, self.fill_holes)
        if self.min_area:
            mask = drop_islands(mask, self.min_area)
        if self.grow:
            mask = grow(mask, self.grow)
        return mask


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (positive) or shrink (negative) by ``pixels``, with a disc."""
    from scipy.ndimage import distance_transform_edt

    if not mask.any():
        return mask
    if pixels > 0:
        return distance_transform_edt(~mask) <= pixels
    # Outside the image counts as outside the mask: edges at the frame border shrink too.
    padded = np.pad(mask, 1)
    return (distance_transform_edt(padded) > -pixels)[1:-1, 1:-1]


def fill_holes(mask: np.ndarray, below: int) -> np.ndarray:
    """Fill background regions that touch no image edge and are smaller than ``below``."""
    from scipy.ndimage import label

    regions, count = label(~mask)
    if not count:
        return mask
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    border = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    small = sizes < below
    small[0] = False
    small[border] = False
    return mask | small[regions]


def drop_islands(mask: np.ndarray, below: int) -> np.ndarray:
    """Remove connected parts of the mask smaller than ``below`` pixels."""
    from scipy.ndimage import label

    regions, count = label(mask)
    if not count:
        return mask
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    keep = sizes >= below
    keep[0] = False
    return keep[regions]
