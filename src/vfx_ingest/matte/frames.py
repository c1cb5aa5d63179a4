"""Matte frames on disk: straight alpha EXRs, premultiplied foregrounds, 16-bit PNGs.

``matte/<label>/matte.1001.exr``: one half-float channel ``A``, straight (not
premultiplied) alpha, at the plate's size, ZIP-compressed. A matte is data: never colour
converted. Header attributes name the model (``vfxingest/model``), its licence
(``vfxingest/model_license``), the trimap band in plate pixels (``vfxingest/trimap_band``)
and that the alpha is straight (``vfxingest/alpha``).

``matte/<label>/foreground/foreground.1001.exr`` (``--matte-foreground``): half-float
R, G, B, A, premultiplied as OpenEXR defines RGBA: the plate's own values times alpha.

``matte/<label>/png/matte.1001.png`` (``--matte-png``): 16-bit greyscale alpha, straight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import atomic
from ..frames import frame_path

PASS = "matte"
MODEL_ATTR = "vfxingest/model"
LICENSE_ATTR = "vfxingest/model_license"
BAND_ATTR = "vfxingest/trimap_band"
ALPHA_ATTR = "vfxingest/alpha"
FOREGROUND_DIR = "foreground"
PNG_DIR = "png"


@dataclass(frozen=True)
class Outputs:
    """Which files a frame of one object gets, and their names inside the matte pass."""

    foreground: bool = False
    png: bool = False

    def names(self, label: str, number: int) -> list[str]:
        names = [f"{label}/{frame_path('matte', number, 'exr')}"]
        if self.foreground:
            names.append(f"{label}/{FOREGROUND_DIR}/{frame_path('foreground', number, 'exr')}")
        if self.png:
            names.append(f"{label}/{PNG_DIR}/{frame_path('matte', number, 'png')}")
        return names


def matte_attributes(model: str, license: str, band: int | None) -> dict[str, str]:
    return {
        MODEL_ATTR: model,
        LICENSE_ATTR: license,
        BAND_ATTR: "none (no trimap: the model finds people itself)" if band is None else str(band),
        ALPHA_ATTR: "straight (not premultiplied); data, no colour conversion",
    }


def write_matte(path: Path, alpha: np.ndarray, attributes: dict[str, str]) -> None:
    from ..io.images import write_exr

    with atomic.target(path) as tmp:
        write_exr(tmp, {"A": alpha.astype(np.float16)}, attributes=attributes)


def write_foreground(
    path: Path, rgb: np.ndarray, alpha: np.ndarray, attributes: dict[str, str]
) -> None:
    """RGBA, premultiplied: ``rgb`` (HxWx3, the plate's values) times ``alpha``."""
    from ..io.images import write_exr

    premultiplied = rgb.astype(np.float32) * alpha[..., None]
    channels = {c: premultiplied[..., i].astype(np.float16) for i, c in enumerate("RGB")}
    channels["A"] = alpha.astype(np.float16)
    with atomic.target(path) as tmp:
        write_exr(tmp, channels, attributes=attributes)


def matte_png(alpha: np.ndarray) -> bytes:
    from ..io.images import encode_png

    return encode_png(np.round(np.clip(alpha, 0.0, 1.0) * 65535.0).astype(np.uint16))


def read_matte(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """The ``A`` channel (float32) and the ``vfxingest/*`` attributes of a matte EXR."""
    from ..io.images import read_exr

    channels, header = read_exr(path)
    ours = {k: str(v) for k, v in header.items() if k.startswith("vfxingest/")}
    return np.asarray(channels["A"], np.float32), ours


def foreground_values(plate: Path, unit: np.ndarray) -> np.ndarray:
    """The plate's own values for a foreground: scene-linear RGB for an EXR plate (as
    ingested, not the display-referred copy the network saw), else ``unit`` (the PNG's
    code values, 0..1)."""
    if plate.suffix != ".exr":
        return unit
    from ..io.images import read_exr

    channels, _ = read_exr(plate)
    if "RGB" in channels:
        return np.asarray(channels["RGB"], np.float32)
    return np.repeat(np.asarray(channels["Y"], np.float32)[..., None], 3, axis=2)


class MatteWriter:
    """Writes each frame's files through ``target(name)`` (the final path of a file of
    the matte pass, in the stage's staging), each atomically."""

    def __init__(
        self, target: Callable[[str], Path], outputs: Outputs, attributes: dict[str, str]
    ) -> None:
        self.target = target
        self.outputs = outputs
        self.attributes = attributes

    def done(self, label: str, number: int) -> bool:
        """True when an earlier, interrupted run already wrote every file of the frame."""
        return all(self.target(name).is_file() for name in self.outputs.names(label, number))

    def write(self, label: str, number: int, alpha: np.ndarray, rgb: np.ndarray) -> None:
        """``alpha``: straight, HxW; ``rgb``: the plate's values (see ``foreground_values``)."""
        names = self.outputs.names(label, number)
        write_matte(self.target(names[0]), alpha, self.attributes)
        if self.outputs.foreground:
            write_foreground(self.target(names[1]), rgb, alpha, self.attributes)
        if self.outputs.png:
            atomic.write_bytes(self.target(names[-1]), matte_png(alpha))
