"""Thin H.264 writer for rendered frames (PyAV / libx264)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

BT709 = 1  # ITU-T H.273 code point for primaries, transfer and matrix alike


def fps_fraction(fps: float | Fraction) -> Fraction:
    """Exact frame rate: NTSC-style rates (23.976, 29.97, ...) become n*1000/1001."""
    if isinstance(fps, Fraction):
        return fps
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 1e-3 and abs(fps - round(fps)) > 1e-3:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def encode_mp4(
    frames: Iterable[np.ndarray],
    out_path: str | Path,
    *,
    fps: float | Fraction = 24,
    crf: float = 20,
    preset: str = "medium",
    rotation: int | None = None,
    timecode: str | None = None,
) -> Path:
    """Write RGB uint8 frames (H, W, 3) as H.264 yuv420p in an mp4, tagged BT.709.

    RGB is converted with the BT.709 matrix into limited ("TV") range so the tags tell the
    truth. `rotation` sets a display matrix (degrees counter-clockwise, as phones record
    portrait video); `timecode` ("HH:MM:SS:FF") goes into the stream metadata.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("no frames to encode")
    with av.open(str(out_path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps_fraction(fps))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = BT709, BT709, BT709
        cc.color_range = ColorRange.MPEG
        if timecode:
            stream.metadata["timecode"] = timecode
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb in itertools.chain([first], it):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(
                format="yuv420p",
                src_colorspace=Colorspace.ITU709,
                dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.MPEG,
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out_path
