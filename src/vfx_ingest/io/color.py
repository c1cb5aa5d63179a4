"""Colour of plates: conversion for EXR plates with OpenColorIO, tags for PNG plates.

Video is display-referred; VFX tools read EXR as scene-linear. Writing code values into an
EXR would make Nuke treat them as linear, so EXR plates are converted from the source's
encoding (from its transfer tag) to a linear working space. The config is the one in
``$OCIO`` when set (a studio's own), else OCIO's built-in studio config.

PNG plates keep the code values and say what they are in a ``cICP`` chunk (:func:`cicp`):
without one, OpenImageIO and Blender read any PNG as sRGB.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BadInput
from .probe import _PRIMARIES, _TRANSFER

if TYPE_CHECKING:
    import PyOpenColorIO

BUILTIN_CONFIG = "studio-config-latest"
DEFAULT_WORKING_SPACE = "Linear Rec.709 (sRGB)"

# Source transfer tag (FFmpeg's name) -> colour space in the built-in studio config.
# Untagged video is assumed to be Rec.709 camera-encoded, which is what HD video is.
SOURCE_SPACES = {
    None: "Camera Rec.709",
    "bt709": "Camera Rec.709",
    "smpte170m": "Camera Rec.709",
    "bt2020-10": "Camera Rec.709",
    "bt2020-12": "Camera Rec.709",
    "iec61966-2-1": "sRGB Encoded Rec.709 (sRGB)",
    "gamma22": "Gamma 2.2 Encoded Rec.709",
    "linear": "Linear Rec.709 (sRGB)",
}

# CIE xy of the primaries and white of common working spaces, for the EXR
# ``chromaticities`` attribute (R, G, B, white).
CHROMATICITIES = {
    "Linear Rec.709 (sRGB)": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "ACEScg": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
}


# ITU-T H.273 code points of FFmpeg's names (the probe's tables, read the other way).
_PRIMARIES_CODE = {name: code for code, name in _PRIMARIES.items()}
_TRANSFER_CODE = {name: code for code, name in _TRANSFER.items()}
BT709 = 1


def cicp(primaries: str | None, transfer: str | None) -> tuple[int, int, int, int]:
    """The PNG ``cICP`` of a plate decoded from a source with these tags: its primaries and
    transfer (Rec.709 where untagged, as for EXR plates), matrix 0 (the PNG holds RGB) and
    full range (the decoder expands video range to full)."""
    return (_PRIMARIES_CODE.get(primaries, BT709), _TRANSFER_CODE.get(transfer, BT709), 0, 1)


@lru_cache(maxsize=1)
def _config() -> PyOpenColorIO.Config:
    import PyOpenColorIO as ocio

    if os.environ.get("OCIO"):
        return ocio.GetCurrentConfig()
    return ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)


def source_space(transfer: str | None, override: str | None = None) -> str:
    if override:
        return override
    return SOURCE_SPACES.get(transfer, SOURCE_SPACES[None])


@lru_cache(maxsize=8)
def _processor(src: str, dst: str) -> PyOpenColorIO.CPUProcessor:
    import PyOpenColorIO as ocio

    config = _config()
    for name, option in ((src, "source_colorspace"), (dst, "exr_colorspace")):
        if config.getColorSpace(name) is None:
            raise BadInput(
                f"colour space {name!r} is not in the OCIO config",
                where=os.environ.get("OCIO") or f"OCIO built-in {BUILTIN_CONFIG}",
                fix=f"Set --{option.replace('_', '-')} to one of the config's colour spaces",
            )
    try:
        return config.getProcessor(src, dst).getDefaultCPUProcessor()
    except ocio.Exception as exc:
        raise BadInput(f"OCIO cannot convert {src!r} to {dst!r} ({exc})") from exc


def check_spaces(src: str, dst: str) -> None:
    """Fail before decoding anything when a colour space name is wrong."""
    _processor(src, dst)


def convert(rgb: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert a float32 HxWx3 image from ``src`` to ``dst`` (returns a new array)."""
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    _processor(src, dst).applyRGB(out)
    return out
