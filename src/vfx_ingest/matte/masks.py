"""The roto pass as the matte stage reads it: one folder of 8-bit masks per object.

``roto/<label>/roto.1001.png``: 0 or 255 at the plate's size for every plate frame (the
roto stage's contract); anything at or above 128 counts as the object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..frames import frame_path

ROTO = "roto"


def roto_labels(folder: Path) -> list[str]:
    """The objects of a roto pass: its subfolders holding mask frames, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("roto.*.png")))


def read_mask(folder: Path, label: str, number: int, size: tuple[int, int]) -> np.ndarray:
    """Bool HxW mask of ``label`` on frame ``number``; BadInput when missing or not the
    plate's ``size`` (height, width)."""
    from ..io.images import decode_png

    path = folder / label / frame_path(ROTO, number, "png")
    try:
        mask = decode_png(path.read_bytes())
    except (OSError, RuntimeError) as exc:
        raise BadInput(
            f"cannot read the {label} mask of frame {number} ({exc})",
            where=str(path),
            fix="Run the roto stage again (--stages roto,matte --force)",
        ) from exc
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != size:
        raise BadInput(
            f"the {label} mask of frame {number} is {mask.shape[1]}x{mask.shape[0]}, "
            f"the plate {size[1]}x{size[0]}",
            where=str(path),
            fix="Run the roto stage again (--stages roto,matte --force)",
        )
    threshold = 128 if mask.dtype == np.uint8 else 32768
    return mask >= threshold
