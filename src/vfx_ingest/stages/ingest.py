"""Ingest: decode the clip into the plate sequence ``plate/plate.1001.png`` ...

8-bit sources give 8-bit PNGs, deeper sources 16-bit PNGs (code values kept, and a
``cICP`` chunk saying the source's primaries and transfer); ``exr``
gives half-float EXRs converted to a linear working space with OpenColorIO. Frames are
numbered ``first_frame + source index``, so a sub-range or ``every`` keeps the numbers the
full clip would have (what lets a camera solved on a sub-range line up with the edit).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from ..errors import BadInput
from ..frames import DEFAULT_FIRST_FRAME, frame_path, frame_set, parse_frame_ref, timecode_at
from ..manifest import FrameInfo, FrameMap, SourceProbe
from .base import StageContext, StageParams, StageResult, StageSpec

if TYPE_CHECKING:
    from av.video.frame import VideoFrame

    from ..io.decode import DecodeReport


class IngestParams(StageParams):
    start: str | None = Field(
        None,
        description="First frame to ingest: a frame number (1010), a timecode "
        "(01:00:00:10) or seconds (4.5s).",
    )
    end: str | None = Field(None, description="Last frame to ingest (inclusive), same forms.")
    every: int = Field(1, ge=1, description="Keep every Nth frame (numbers keep their gaps).")
    max_size: int | None = Field(
        None, ge=16, description="Downscale so the longer side is at most this many pixels."
    )
    first_frame: int = Field(
        DEFAULT_FIRST_FRAME, ge=0, description="Frame number of the clip's first frame."
    )
    plate_format: Literal["png", "exr"] = Field(
        "png", description="png (8/16-bit code values) or exr (half float, linear)."
    )
    exr_colorspace: str = Field(
        "Linear Rec.709 (sRGB)", description="OCIO colour space of EXR plates."
    )
    source_colorspace: str | None = Field(
        None, description="OCIO colour space of the clip (default: from its transfer tag)."
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Encoder threads (default: one per core).",
        json_schema_extra={"cache": False},
    )
    allow_damaged: bool = Field(
        False,
        description="Keep frames the decoder had to conceal errors in (a damaged clip): "
        "warn and record them in shot.json instead of failing.",
        json_schema_extra={"cache": False},
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _frame_ref(cls, value: object) -> object:
        return parse_frame_ref(str(value)) if value is not None else None


def run(ctx: StageContext, params: IngestParams) -> StageResult:
    # Heavy modules load here, not at import: the registry must stay cheap to import.
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from ..io.decode import DecodeReport, iter_frames

    if ctx.source is None or ctx.source_path is None:
        raise BadInput("ingest needs a source clip")
    probe = ctx.source.probe
    first, last = _source_range(params, probe)
    wanted, width, height = frame_plan(params, probe)
    writer = _PlateWriter(ctx, params, probe, (width, height))
    start_tc = probe.timecode or "00:00:00:00"
    workers = params.workers or len(os.sched_getaffinity(0))
    frames: list[FrameInfo] = []
    pending: deque[Future[None]] = deque()
    report = DecodeReport()

    def finish_oldest() -> None:
        pending.popleft().result()
        ctx.progress(len(frames) - len(pending), wanted)

    with ThreadPoolExecutor(workers, thread_name_prefix="ingest") as pool:
        for src in iter_frames(ctx.source_path, first=first, last=last, report=report):
            if (src.index - first) % params.every:
                continue
            number = params.first_frame + src.index
            frames.append(
                FrameInfo(
                    frame=number,
                    source_index=src.index,
                    time=round(src.time, 6),
                    timecode=timecode_at(start_tc, src.index, probe.frame_rate),
                )
            )
            pending.append(pool.submit(writer.write, number, src.frame))
            # Bounded queue: decoded frames wait for an encoder instead of piling up.
            while len(pending) > 2 * workers:
                finish_oldest()
            ctx.check_cancelled()
        while pending:
            finish_oldest()
    if not frames:
        raise BadInput(
            f"the frame range selects no frames (the clip has {probe.frame_count})",
            fix="Check --start/--end/--every",
        )
    damaged = _damaged(report, frames, params, ctx)
    return StageResult(
        frames=FrameMap(
            first=frames[0].frame,
            last=frames[-1].frame,
            count=len(frames),
            frame_set=frame_set(f.frame for f in frames),
            width=width,
            height=height,
            fps=probe.frame_rate,
            timecode_from="source" if probe.timecode else "elapsed",
            frames=frames,
            damaged=damaged,
        ),
        stats={
            "frames": len(frames),
            "encoded": writer.encoded,
            "resumed": writer.resumed,
            **({"damaged": damaged} if damaged else {}),
        },
    )


def _damaged(
    report: DecodeReport, frames: list[FrameInfo], params: IngestParams, ctx: StageContext
) -> str | None:
    """The plate frames the decoder flagged as damaged (a frame set), or None. Without
    --allow-damaged a damaged clip fails the stage, naming them (nothing is swapped in)."""
    hit = set(report.damaged())
    numbers = [f.frame for f in frames if f.source_index in hit]
    if not numbers:
        return None
    damaged = frame_set(numbers)
    if not params.allow_damaged:
        raise BadInput(
            f"the clip is damaged: the decoder concealed errors in {len(numbers)} frame"
            f"{'s' if len(numbers) > 1 else ''} ({damaged})",
            where=str(ctx.source_path),
            fix="Re-export or re-copy the clip, or pass --allow-damaged to keep those "
            "frames (recorded in shot.json)",
        )
    return damaged


def frame_plan(params: IngestParams, probe: SourceProbe) -> tuple[int, int, int]:
    """How many frames the plate will have and its width and height, before any work
    (for cost estimates)."""
    from ..io.decode import fit_size

    first, last = _source_range(params, probe)
    width, height = fit_size(probe.display_width, probe.display_height, params.max_size)
    return len(range(first, last + 1, params.every)), width, height


def plate_numbers(params: IngestParams, probe: SourceProbe) -> list[int]:
    """The plate's frame numbers, before any work (to check frame-numbered options)."""
    first, last = _source_range(params, probe)
    return [params.first_frame + i for i in range(first, last + 1, params.every)]


def _preflight(params: IngestParams, probe: SourceProbe) -> None:
    _source_range(params, probe)
    if params.plate_format == "exr":
        from ..io import color

        color.check_spaces(
            color.source_space(probe.color_transfer, params.source_colorspace),
            params.exr_colorspace,
        )


def _source_range(params: IngestParams, probe: SourceProbe) -> tuple[int, int]:
    """0-based inclusive source indices selected by --start/--end."""
    from ..frames import resolve_frame_ref

    last_index = probe.frame_count - 1

    def resolve(ref: str | None, default: int) -> int:
        if ref is None:
            return default
        return resolve_frame_ref(
            ref,
            fps=probe.frame_rate,
            first_frame=params.first_frame,
            start_timecode=probe.timecode,
        )

    first, last = resolve(params.start, 0), resolve(params.end, last_index)
    if not 0 <= first <= last_index or last < first:
        lo, hi = params.first_frame, params.first_frame + last_index
        raise BadInput(
            f"frame range {params.start or lo}-{params.end or hi} is outside the clip "
            f"(frames {lo}-{hi})",
            fix="Check --start/--end",
        )
    return first, min(last, last_index)


class _PlateWriter:
    """Converts and writes one frame; runs in encoder threads (PyAV, imagecodecs, OpenEXR
    and OCIO release the GIL while they work)."""

    def __init__(
        self,
        ctx: StageContext,
        params: IngestParams,
        probe: SourceProbe,
        size: tuple[int, int],
    ) -> None:
        self.ctx = ctx
        self.params = params
        self.rotation = probe.rotation
        turned = probe.rotation in (90, 270)
        self.coded_size = (size[1], size[0]) if turned else size
        self.deep = probe.bit_depth > 8 or params.plate_format == "exr"
        self.ext = params.plate_format
        self.encoded = 0
        self.resumed = 0
        from ..io import color

        self.cicp = color.cicp(probe.color_primaries, probe.color_transfer)
        if self.ext == "exr":
            self.src_space = color.source_space(probe.color_transfer, params.source_colorspace)
            color.check_spaces(self.src_space, params.exr_colorspace)

    def write(self, number: int, frame: VideoFrame) -> None:
        from ..io.decode import to_rgb

        name = frame_path("plate", number, self.ext)
        if self.ctx.output_done("plate", name):
            self.resumed += 1
            return
        rgb = to_rgb(frame, size=self.coded_size, deep=self.deep, rotation=self.rotation)
        if self.ext == "png":
            from ..io.images import encode_png

            self.ctx.write_bytes("plate", name, encode_png(rgb, cicp=self.cicp))
        else:
            self._write_exr(name, rgb)
        self.encoded += 1

    def _write_exr(self, name: str, rgb: object) -> None:
        import numpy as np

        from .. import atomic
        from ..io import color
        from ..io.images import write_exr

        linear = color.convert(
            np.asarray(rgb, np.float32) / 65535.0, self.src_space, self.params.exr_colorspace
        )
        attributes: dict[str, object] = {"colorspace": self.params.exr_colorspace}
        if chroma := color.CHROMATICITIES.get(self.params.exr_colorspace):
            attributes["chromaticities"] = chroma
        with atomic.target(self.ctx.output_path("plate", name)) as tmp:
            write_exr(tmp, {"RGB": linear.astype(np.float16)}, attributes=attributes)


SPEC = StageSpec(
    name="ingest",
    version="2",
    summary="Decode the clip into the plate sequence (PNG 8/16-bit or EXR half).",
    needs=("source",),
    produces=("plate",),
    params=IngestParams,
    run=run,
    preflight=_preflight,
)
