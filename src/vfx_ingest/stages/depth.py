"""Depth: temporally consistent depth of the plate with Video Depth Anything, as float EXR.

``depth/depth.1001.exr`` ...: one float32 channel ``Z`` per plate frame (same numbers,
stepped plates included), at the plate's resolution; the header says whether the values
are relative disparity or metric depth in metres, and which model made them. Long clips
run in overlapping 32-frame windows joined by scale/shift (``depth.windows``); frame-range
chunks (fan-out) are joined the same way by ``stitch``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ..depth.models import DEFAULT_MODEL, MODEL_IDS
from ..errors import BadInput
from ..frames import frame_path
from ..models.registry import ModelEntry
from .base import Chunking, DeviceNeeds, StageContext, StageParams, StageResult, StageSpec

PATCH = 14  # the network's patch size; input sizes are multiples of it


class DepthParams(StageParams):
    model: str = Field(
        DEFAULT_MODEL,
        description=f"Depth model: {', '.join(MODEL_IDS)} (base/large: non-commercial).",
        json_schema_extra={"cli": "--depth-model"},
    )
    input_size: int = Field(
        518,
        ge=PATCH,
        description="Short side of the network input in pixels, a multiple of 14 "
        "(the models were trained at 518).",
        json_schema_extra={"cli": "--depth-size"},
    )
    precision: Literal["auto", "fp16", "bf16", "fp32"] = Field(
        "auto",
        description="Arithmetic: auto is fp16 on CUDA, fp32 on CPU.",
        json_schema_extra={"cli": "--depth-precision"},
    )
    batch: int | None = Field(
        None,
        ge=1,
        description="32-frame windows per network pass (default: what fits in GPU memory).",
        json_schema_extra={"cli": "--depth-batch", "cache": False},
    )
    compile: bool = Field(
        False,
        description="torch.compile the network: slower start, faster long clips.",
        json_schema_extra={"cli": "--depth-compile", "cache": False},
    )
    preview: bool = Field(
        False,
        description="Also write 16-bit PNG previews (near bright) in depth/preview/.",
    )

    @field_validator("input_size")
    @classmethod
    def _multiple_of_patch(cls, value: int) -> int:
        if value % PATCH:
            raise ValueError(f"must be a multiple of {PATCH} (e.g. {round(value / PATCH) * PATCH})")
        return value


def run(ctx: StageContext, params: DepthParams) -> StageResult:
    from ..depth.exr import DepthWriter, depth_attributes
    from ..depth.inference import DepthEstimator, InferenceOptions
    from ..depth.models import depth_model, load_network
    from ..depth.plates import open_plates
    from ..depth.resume import Checkpoints
    from ..depth.sizing import network_size
    from ..depth.windows import chunk_windows, window_inputs, window_plan
    from ..models.registry import load_registry

    registry = ctx.model_registry or load_registry()  # the built-in one unless given
    model = depth_model(registry.get(params.model))
    numbers = ctx.plate_numbers()
    first, last = _chunk(ctx, numbers)
    notes = [note] if (note := model.license_note()) else []
    for note in notes:
        ctx.progress(0, last - first + 1, f"note: {note}")
    directory = ctx.model_dir(model.id)
    reads = window_inputs(
        len(numbers), chunk_windows(len(numbers), first, last, metric=model.metric)
    )
    plates = open_plates(ctx.input_dir("plate"), numbers, reads)
    network = load_network(model, directory)
    estimator = DepthEstimator(
        network,
        ctx.device,
        InferenceOptions(
            input_size=params.input_size,
            precision=params.precision,
            compile=params.compile,
            batch_windows=params.batch,
            metric=model.metric,
        ),
    )
    size = network_size(plates.height, plates.width, params.input_size)
    writer = DepthWriter(_target(ctx), depth_attributes(model, size))
    plan = window_plan(len(numbers), first, last, metric=model.metric)
    checkpoints = Checkpoints(ctx.staging, writer, numbers, size, plan)
    try:
        stats = estimator.run(
            plates,
            emit=lambda index, depth: writer.write(numbers[index], depth),
            progress=lambda done, total: ctx.progress(done, total),
            first=first,
            last=last,
            resume=checkpoints.load(),
            checkpoint=checkpoints,
        )
        writer.finish(previews=params.preview)
    finally:
        writer.close()
    checkpoints.clear()
    return StageResult(
        # The record's frame range; a chunk's is its own, and is not the shot's frame map.
        frames=ctx.frames if ctx.frame_range is None else None,
        stats={
            **stats.as_dict(),
            "model": model.id,
            "values": model.values,
            "license": model.license,
            "notes": notes,
        },
    )


def stitch(ctx: StageContext, chunk_dirs: list[Path]) -> None:
    """Join chunk jobs' depth into this stage's staging (see ``depth.stitch``); previews,
    when the chunks made them, are redone over the whole shot."""
    from ..depth.exr import PASS, PREVIEW_DIR, DepthWriter, read_depth
    from ..depth.stitch import find_chunks, stitch_chunks

    chunks = find_chunks(chunk_dirs)
    _, attributes = read_depth(chunks[0].path(chunks[0].numbers[0]))
    previews = any((c.folder / PASS / PREVIEW_DIR).is_dir() for c in chunks)
    writer = DepthWriter(_target(ctx), attributes)
    try:
        stitch_chunks(chunks, writer, progress=lambda done, total: ctx.progress(done, total))
        writer.finish(previews=previews)
    finally:
        writer.close()


def _model_check(entry: ModelEntry) -> None:
    """Before any work: the model must be a depth checkpoint (a studio one included)."""
    from ..depth.models import depth_model

    depth_model(entry)


def _chunk_context(numbers: list[int], frame_range: tuple[int, int]) -> list[int]:
    """Plate frames a chunk reads outside its range: the keyframes of the windows it runs
    (the clip's first 32 frames, and the window frames around its ends)."""
    from ..depth.windows import chunk_windows, window_inputs

    lo, hi = frame_range
    inside = _indices_in(numbers, frame_range)
    if not inside:
        return []
    reads = window_inputs(len(numbers), chunk_windows(len(numbers), inside[0], inside[-1]))
    return [numbers[i] for i in reads if not lo <= numbers[i] <= hi]


def _indices_in(numbers: list[int], frame_range: tuple[int, int]) -> list[int]:
    """Plate indices whose frame numbers fall in ``frame_range`` (inclusive)."""
    lo, hi = frame_range
    return [i for i, n in enumerate(numbers) if lo <= n <= hi]


def _target(ctx: StageContext) -> Callable[[str], Path]:
    """Where the writer puts a file of the depth pass: this run's staging."""
    return lambda relpath: ctx.output_path("depth", relpath)


def _chunk(ctx: StageContext, numbers: list[int]) -> tuple[int, int]:
    """First and last plate index to output: a chunk job's frame range, or all. A chunk
    still runs on the whole clip's window grid (reading keyframes outside its range, see
    ``_chunk_context``), so its predictions are the ones a single pass makes."""
    if not numbers:
        raise BadInput(
            "the shot has no plate frames", where=str(ctx.input_dir("plate")), fix="Run ingest"
        )
    if ctx.frame_range is None:
        return 0, len(numbers) - 1
    lo, hi = ctx.frame_range
    inside = _indices_in(numbers, ctx.frame_range)
    if not inside:
        raise BadInput(
            f"frames {lo}-{hi} select no plate frame",
            where=str(ctx.input_dir("plate") / frame_path("plate", lo, "*")),
        )
    return inside[0], inside[-1]


SPEC = StageSpec(
    name="depth",
    version="2",
    summary="Temporally consistent depth (Video Depth Anything) as float32 EXR.",
    needs=("plate",),
    produces=("depth",),
    params=DepthParams,
    run=run,
    device=DeviceNeeds(accelerator="optional", min_vram_gb=8),
    models=MODEL_IDS,
    model_param="model",
    # 10 shared frames per chunk boundary, as between windows: enough for a stable
    # scale/shift fit and a cross-fade; chunks below 64 frames would spend too much of
    # their work on the overlap (and on loading the model).
    chunking=Chunking(overlap=10, min_frames=64),
    stitch=stitch,
    chunk_context=_chunk_context,
    model_check=_model_check,
    extras=("ml",),
)
