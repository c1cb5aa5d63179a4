"""Probe a clip with PyAV (FFmpeg): what it is, and whether it is usable at all.

Every way a clip can be unusable is caught here, before any work starts, and reported as
one line naming the file and what to do.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput
from ..manifest import SourceProbe

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

# FFmpeg's own names (as ffprobe prints them) for the colour enums in the codec context.
_PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
}
_TRANSFER = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
_MATRIX = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
_RANGE = {1: "tv", 2: "pc"}


def check_clip_path(path: Path) -> None:
    if not path.exists():
        raise BadInput("clip not found", where=str(path), fix="Check the path")
    if path.is_dir():
        raise BadInput(
            "is a directory, not a clip", where=str(path), fix="Give a video file (mp4, mov...)"
        )
    if path.stat().st_size == 0:
        raise BadInput("the file is empty", where=str(path), fix="Give a video file")


def probe(path: Path) -> SourceProbe:
    """Read the clip's metadata and decode its first frame; raise BadInput if unusable."""
    import av

    check_clip_path(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.EOFError as exc:
        raise _no_frames(path, "the file ends before any") from exc
    except av.error.FFmpegError as exc:
        raise BadInput(
            f"not a video file FFmpeg can read ({exc.strerror or type(exc).__name__})",
            where=str(path),
            fix="Give a video file; re-export it if it is damaged",
        ) from exc
    with container:
        if not container.streams:
            raise _no_frames(path, "the file holds no streams")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise BadInput(
                f"no video stream (the file has {', '.join(kinds)})",
                where=str(path),
                fix="Give a clip with a video track",
            )
        stream = container.streams.video[0]
        _check_not_truncated(path, stream)
        first = _first_frame(container, stream, path)
        cc = stream.codec_context
        fmt = av.VideoFormat(cc.pix_fmt or first.format.name)
        fps = Fraction(stream.average_rate or stream.guessed_rate or 24)
        frame_count = stream.frames or _count_packets(path)
        if frame_count == 0:
            raise _no_frames(path)
        rotation = int(first.rotation or 0) % 360
        width, height = cc.width or first.width, cc.height or first.height
        turned = rotation in (90, 270)
        duration = _duration(container, stream, frame_count, fps)
        return SourceProbe(
            container=container.format.name,
            codec=cc.name,
            profile=cc.profile,
            width=width,
            height=height,
            display_width=height if turned else width,
            display_height=width if turned else height,
            pix_fmt=fmt.name,
            bit_depth=max(c.bits for c in fmt.components),
            frame_rate=fps,
            variable_frame_rate=_is_vfr(stream),
            frame_count=frame_count,
            duration=duration,
            rotation=rotation,
            timecode=_timecode(container, stream),
            color_primaries=_PRIMARIES.get(int(cc.color_primaries)),
            color_transfer=_TRANSFER.get(int(cc.color_trc)),
            color_matrix=_MATRIX.get(int(cc.colorspace)),
            color_range=_RANGE.get(int(cc.color_range)),
            has_audio=bool(container.streams.audio),
        )


def _no_frames(path: Path, why: str = "") -> BadInput:
    what = f"the clip has no video frames ({why})" if why else "the clip has no video frames"
    return BadInput(what, where=str(path), fix="Give a non-empty clip")


def _first_frame(container: InputContainer, stream: VideoStream, path: Path) -> VideoFrame:
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise BadInput(
            f"cannot decode the video ({exc.strerror or type(exc).__name__})",
            where=str(path),
            fix="The file may be damaged; re-export it",
        ) from exc
    raise _no_frames(path)


def _check_not_truncated(path: Path, stream: VideoStream) -> None:
    # An MP4/MOV index lists every sample's byte range; samples past the end of the file
    # mean the file was cut short (a copy or upload that stopped).
    size = path.stat().st_size
    end = max((e.pos + e.size for e in stream.index_entries), default=0)
    if end > size:
        raise BadInput(
            f"the file is truncated ({size} bytes, its index needs {end})",
            where=str(path),
            fix="Copy or export the clip again",
        )


def _count_packets(path: Path) -> int:
    # Containers without a frame count in their header (MKV, WebM, some TS) need a demux
    # pass; it reads packets only, no decoding.
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size)


def _is_vfr(stream: VideoStream) -> bool:
    times = sorted(e.timestamp for e in stream.index_entries)
    if len(times) > 2:
        deltas = {b - a for a, b in pairwise(times)}
        return max(deltas) - min(deltas) > 1
    avg, base = stream.average_rate, stream.base_rate
    return bool(avg and base and abs(float(avg) - float(base)) > 1e-3 * float(base))


def _duration(
    container: InputContainer, stream: VideoStream, frame_count: int, fps: Fraction
) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return float(frame_count / fps)


def _timecode(container: InputContainer, stream: VideoStream) -> str | None:
    for metadata in (stream.metadata, container.metadata):
        if tc := metadata.get("timecode"):
            return tc
    for other in container.streams:
        if other.type == "data" and (tc := other.metadata.get("timecode")):
            return tc
    return None
