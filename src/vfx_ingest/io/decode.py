"""Decode a clip's frames in presentation order with PyAV, FFmpeg's threads doing the work.

Variable frame rate policy: one output frame per source frame, in presentation order,
each with its own timestamp; nothing is dropped or duplicated to force a constant rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BadInput

if TYPE_CHECKING:
    from av.video.frame import VideoFrame


@dataclass(frozen=True)
class SourceFrame:
    index: int
    time: float
    frame: VideoFrame


# FFmpeg's AVPictureType: B-frames are displayed before the frame they reference next.
PICT_B = 3


@dataclass
class DecodeReport:
    """What the decoder flagged while decoding: frames it had to conceal errors in
    (FFmpeg's corrupt flag) and each frame's type, to tell which frames the damage reached."""

    corrupt: list[int] = field(default_factory=list)
    b_frames: set[int] = field(default_factory=set)
    keyframes: list[int] = field(default_factory=list)
    decoded: int = 0

    def note(self, index: int, frame: VideoFrame) -> None:
        self.decoded = index + 1
        if frame.is_corrupt:
            self.corrupt.append(index)
        if frame.key_frame:
            self.keyframes.append(index)
        if frame.pict_type == PICT_B:
            self.b_frames.add(index)

    def damaged(self) -> list[int]:
        """Source indices whose pictures may be wrong: from each corrupt frame (and the
        B-frames displayed just before it, which reference it) until the next keyframe,
        since every frame in between is predicted from the damaged one."""
        hit: set[int] = set()
        for index in self.corrupt:
            start = index
            while start - 1 in self.b_frames:
                start -= 1
            end = next((k for k in self.keyframes if k > index), self.decoded)
            hit.update(range(start, end))
        return sorted(hit)


def iter_frames(
    path: Path, *, first: int = 0, last: int | None = None, report: DecodeReport | None = None
) -> Iterator[SourceFrame]:
    """Source frames ``first``..``last`` (0-based, inclusive), decoded with frame threads.
    ``report`` collects what the decoder flagged (see :class:`DecodeReport`)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        start = stream.start_time or 0
        fps = stream.average_rate or stream.guessed_rate
        try:
            for index, frame in enumerate(container.decode(stream)):
                if last is not None and index > last:
                    return
                if report is not None:
                    report.note(index, frame)
                if index < first:
                    continue
                if frame.pts is not None and tb is not None:
                    time = float((frame.pts - start) * tb)
                else:
                    time = float(index / fps) if fps else 0.0
                yield SourceFrame(index=index, time=time, frame=frame)
        except av.error.FFmpegError as exc:
            raise BadInput(
                f"decoding failed after source frame {index - 1} "
                f"({exc.strerror or type(exc).__name__})",
                where=str(path),
                fix="The file may be damaged; re-export it",
            ) from exc


def to_rgb(
    frame: VideoFrame,
    *,
    size: tuple[int, int] | None,
    deep: bool,
    rotation: int,
) -> np.ndarray:
    """RGB array (uint8, or uint16 when ``deep``), resized to ``size`` (w, h, before
    rotation) and turned upright by the clip's display rotation (counter-clockwise)."""
    width, height = size or (frame.width, frame.height)
    resize = (width, height) != (frame.width, frame.height)
    rgb = frame.to_ndarray(
        format="rgb48le" if deep else "rgb24",
        width=width,
        height=height,
        # Bicubic matches FFmpeg's default conversion; Lanczos keeps detail on downscale.
        interpolation="LANCZOS" if resize else "BICUBIC",
        src_color_range=frame.color_range or None,
        threads=1,
    )
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def fit_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """Size scaled so the longer side is at most ``max_size``, aspect kept, both even
    (4:2:0 video and most codecs need even dimensions)."""
    if not max_size or max(width, height) <= max_size:
        return width, height
    long_side = max_size - max_size % 2
    short_side = max(2, round(min(width, height) * long_side / max(width, height) / 2) * 2)
    return (long_side, short_side) if width >= height else (short_side, long_side)
