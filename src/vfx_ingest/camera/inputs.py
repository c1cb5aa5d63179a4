"""What pycolmap reads: 8-bit images of the plate and, when the shot has roto, masks.

8-bit PNG plates are read where they are. EXR and 16-bit PNG plates are converted to
8-bit PNG copies in the work folder first (linear EXR values get an sRGB-like 1/2.2
curve: enough for feature detection, which needs contrast, not colour accuracy).
Roto masks mark moving objects (white); every label's mask is merged and inverted into
COLMAP's convention (black = no features), one ``<plate name>.png`` per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import atomic
from ..io.images import decode_png, encode_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_8bit_png(path: Path) -> bool:
    """PNG with 8 bits per sample (byte 24 of the file is the IHDR bit depth)."""
    with path.open("rb") as f:
        head = f.read(25)
    return head[:8] == PNG_SIGNATURE and head[24] == 8


def read_8bit(path: Path) -> np.ndarray:
    """A plate frame as 8-bit RGB (or grey) for feature detection."""
    if path.suffix.lower() == ".exr":
        import OpenEXR

        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            rgb = np.asarray(channels["RGB"].pixels if "RGB" in channels else channels["Y"].pixels)
        encoded = np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0) ** (1 / 2.2)
        return np.round(encoded * 255).astype(np.uint8)
    image = decode_png(path.read_bytes())
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return image


def image_folder(
    plates: list[Path],
    work: Path,
    check: Callable[[], None] = lambda: None,
) -> tuple[Path, list[str]]:
    """The folder pycolmap should read the plate from (the plate's own when it can) and
    the file names in it, frame by frame (``plate.1001.png`` for an EXR frame too)."""
    if all(p.suffix.lower() == ".png" for p in plates) and is_8bit_png(plates[0]):
        return plates[0].parent, [p.name for p in plates]
    folder = work / "images"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for plate in plates:
        target = folder / f"{plate.stem}.png"
        if not target.exists():
            atomic.write_bytes(target, encode_png(read_8bit(plate)))
        names.append(target.name)
        check()
    return folder, names


def roto_labels(roto_dir: Path) -> list[Path]:
    """Label folders of a roto pass (``roto/<label>/roto.####.png``)."""
    if not roto_dir.is_dir():
        return []
    return sorted(p for p in roto_dir.iterdir() if p.is_dir() and any(p.glob("*.png")))


def static_mask_png(labels: list[Path], frame: int, size: tuple[int, int]) -> bytes:
    """A frame's mask of the static scene as PNG (white: static; black: any roto label),
    the convention COLMAP and nerfstudio share."""
    from ..frames import frame_path

    width, height = size
    union = merged_roto(labels, frame_path("roto", frame, "png"))
    allowed = np.full((height, width), 255, np.uint8)
    if union is not None:
        allowed[union] = 0
    return encode_png(allowed)


def merged_roto(labels: list[Path], frame_file: str) -> np.ndarray | None:
    """The union (bool HxW) of every label's mask for one frame, or None if none has one."""
    union: np.ndarray | None = None
    for label in labels:
        path = label / frame_file
        if not path.is_file():
            continue
        mask = decode_png(path.read_bytes())
        mask = mask[..., 0] if mask.ndim == 3 else mask
        union = mask > 0 if union is None else union | (mask > 0)
    return union


def mask_folder(
    labels: list[Path],
    frames: list[int],
    names: list[str],
    size: tuple[int, int],
    work: Path,
) -> Path:
    """COLMAP masks (white = features allowed) from the roto labels, one per plate file."""
    folder = work / "masks"
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names, strict=True):
        atomic.write_bytes(folder / f"{name}.png", static_mask_png(labels, frame, size))
    return folder
