"""Frame numbers, sequence names and user frame references.

Conventions (DESIGN.md): frames are numbered from 1001 by default in the source's
presentation order, files are ``name.####.ext`` (``%04d``, more digits past 9999).
Sequences are described and listed with fileseq, the library VFX pipelines already use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction

from .errors import BadInput

DEFAULT_FIRST_FRAME = 1001

_FRAME_FILE = re.compile(r"\.(\d+)\.[^./]+$")
_TIMECODE = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;]\d{1,3}$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s$")


def frame_path(prefix: str, frame: int, ext: str) -> str:
    """``plate.1001.png``: the file name of one frame of a sequence."""
    return f"{prefix}.{frame:04d}.{ext}"


def frame_number(name: str) -> int | None:
    """The frame number in a sequence file's name or path (``plate.1001.png`` -> 1001)."""
    match = _FRAME_FILE.search(name)
    return int(match.group(1)) if match else None


def frame_set(frames: Iterable[int]) -> str:
    """Compact frame-range text, e.g. ``1001-1096`` or ``1001-1095x2``."""
    import fileseq

    numbers = sorted(set(frames))
    return str(fileseq.FrameSet(numbers)) if numbers else ""


def parse_frame_ref(text: str) -> str:
    """Validate a frame reference's syntax: a frame number, a timecode, or seconds."""
    value = text.strip()
    if value.lstrip("-").isdigit() or _TIMECODE.match(value) or _SECONDS.match(value):
        return value
    raise BadInput(
        f"cannot read frame reference {text!r}",
        fix="Give a frame number (1010), a timecode (01:00:00:10) or seconds (4.5s)",
    )


def resolve_frame_ref(
    ref: str,
    *,
    fps: Fraction,
    first_frame: int,
    start_timecode: str | None,
) -> int:
    """Turn a user's frame reference into a 0-based source frame index.

    - ``1010``: a frame number in the shot's numbering (``first_frame`` is source frame 0);
    - ``01:00:00:10``: a timecode, counted from the clip's start timecode (00:00:00:00 if
      the clip has none); ``;`` marks drop-frame as usual;
    - ``4.5s``: seconds from the start of the clip, rounded to the nearest frame.
    """
    value = parse_frame_ref(ref)
    if m := _SECONDS.match(value):
        return round(float(m.group(1)) * fps)
    if _TIMECODE.match(value):
        from timecode import Timecode

        rate = _timecode_rate(fps)
        try:
            wanted = Timecode(rate, value).frame_number
            origin = Timecode(rate, start_timecode or "00:00:00:00").frame_number
        except (ValueError, TypeError) as exc:
            raise BadInput(f"invalid timecode {value!r} at {rate} fps ({exc})") from exc
        if wanted < origin:
            # Timecode wraps at midnight: a clip rolling past 23:59:59 continues at 00:00.
            wanted += _frames_per_day(rate)
        return wanted - origin
    return int(value) - first_frame


def timecode_at(start_timecode: str, index: int, fps: Fraction) -> str:
    """The timecode of source frame ``index`` for a clip starting at ``start_timecode``."""
    from timecode import Timecode

    tc = Timecode(_timecode_rate(fps), start_timecode)
    return str(tc + index) if index else str(tc)


def _frames_per_day(rate: str) -> int:
    from timecode import Timecode

    nominal = round(float(Fraction(rate)))
    delimiter = Timecode(rate, "00:00:00:00").frame_delimiter  # ";" for drop-frame rates
    return Timecode(rate, f"23:59:59{delimiter}{nominal - 1:02d}").frame_number + 1


def _timecode_rate(fps: Fraction) -> str:
    # The timecode library wants the nominal rate as text; NTSC rates keep their decimals
    # so that drop-frame counting applies.
    if fps.denominator == 1:
        return str(fps.numerator)
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")
