"""The network's input size for a plate: short side at least ``input_size``, aspect kept,
both sides multiples of the 14-pixel patch.

This is the rule the checkpoints were evaluated with: scale so the short side reaches
``input_size``, round each side to the nearest multiple of 14 and round up instead when
that would fall below ``input_size``. Frames wider than 16:9 get a proportionally smaller
``input_size`` so the long side, and the token count with it, stays bounded.
"""

from __future__ import annotations

import math

from ..networks.dinov2 import PATCH_SIZE

DEFAULT_INPUT_SIZE = 518  # the training resolution: a 37 x 37 patch grid
WIDEST_RATIO = 1.78  # beyond this aspect ratio the short side is reduced


def effective_input_size(height: int, width: int, input_size: int) -> int:
    ratio = max(height, width) / min(height, width)
    if ratio <= WIDEST_RATIO:
        return input_size
    reduced = round(int(input_size * 1.777 / ratio) / PATCH_SIZE) * PATCH_SIZE
    return max(PATCH_SIZE, reduced)


def network_size(height: int, width: int, input_size: int = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """(height, width) of the network input for a ``height`` x ``width`` plate."""
    if height < 1 or width < 1:
        raise ValueError(f"empty frame size {width}x{height}")
    if input_size % PATCH_SIZE or input_size < PATCH_SIZE:
        raise ValueError(f"input_size {input_size} is not a positive multiple of {PATCH_SIZE}")
    target = effective_input_size(height, width, input_size)
    scale = max(target / height, target / width)

    def side(length: int) -> int:
        size = round(scale * length / PATCH_SIZE) * PATCH_SIZE
        if size < target:
            size = math.ceil(scale * length / PATCH_SIZE) * PATCH_SIZE
        return size

    return side(height), side(width)
