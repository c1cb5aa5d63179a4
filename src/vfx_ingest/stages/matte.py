"""Matte: soft, straight alpha per roto object (VitMatte), or of people (RVM), as EXR.

``matte/<label>/matte.1001.exr`` ...: one half-float channel ``A`` per plate frame, at the
plate's size, straight alpha; ``--matte-foreground`` and ``--matte-png`` add premultiplied
RGBA EXRs and 16-bit PNGs (``matte.frames``). VitMatte refines each roto object's mask on
a band around its edge (``matte.refine``); RVM mattes people with no roto at all. Frame-
range chunks overlap by what the temporal filter reads, so they join by plain copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..errors import BadInput, StageFailed
from ..frames import frame_path
from ..matte.models import DEFAULT_MODEL, MODEL_IDS
from .base import (
    Chunking,
    DeviceNeeds,
    PlanView,
    StageContext,
    StageParams,
    StageResult,
    StageSpec,
)
from .depth import _chunk

if TYPE_CHECKING:
    import numpy as np

    from ..depth.plates import PlateSequence
    from ..matte.frames import MatteWriter
    from ..models.registry import ModelEntry

PEOPLE = "people"  # RVM's one object
MAX_RADIUS = 4  # the temporal filter's widest window: 9 frames
OVERLAP = 2 * MAX_RADIUS  # a chunk's first and last `radius` frames only feed the filter


class MatteParams(StageParams):
    model: str = Field(
        DEFAULT_MODEL,
        description=f"Matte model: {', '.join(MODEL_IDS)} (rvm-*: people, no roto, GPL-3.0).",
        json_schema_extra={"cli": "--matte-model"},
    )
    trimap_band: int = Field(
        12,
        ge=1,
        le=512,
        description="Unknown band of the trimap, in plate pixels each side of the mask's edge.",
    )
    max_internal_size: int = Field(
        2048,
        ge=64,
        description="Longest side VitMatte works at; larger plates are matted at this size "
        "and guided-upsampled.",
    )
    temporal: int = Field(
        2,
        ge=0,
        le=MAX_RADIUS,
        description=f"Temporal filter against boiling: frames each side (0 off, max {MAX_RADIUS}).",
        json_schema_extra={"cli": "--matte-temporal"},
    )
    precision: Literal["auto", "fp16", "bf16", "fp32"] = Field(
        "auto",
        description="VitMatte arithmetic: auto is fp16 on CUDA, fp32 on CPU.",
        json_schema_extra={"cli": "--matte-precision"},
    )
    foreground: bool = Field(
        False,
        description="Also write premultiplied RGBA EXRs (plate x alpha) per object.",
        json_schema_extra={"cli": "--matte-foreground"},
    )
    png: bool = Field(
        False,
        description="Also write 16-bit PNG mattes.",
        json_schema_extra={"cli": "--matte-png"},
    )
    batch: int = Field(
        8,
        ge=1,
        description="VitMatte tiles per network pass.",
        json_schema_extra={"cli": "--matte-batch", "cache": False},
    )


NO_ROTO = "matte refines the roto pass's masks and this shot has no roto pass"


def settle(params: MatteParams, view: PlanView) -> MatteParams:
    """Before any work: the model is one the stage runs, and VitMatte has masks to refine
    (from this run's roto, or the shot's last roto pass)."""
    from ..matte.models import find_model
    from ..models.registry import load_registry
    from ..shot import ShotFolder

    model = find_model(params.model, view.model_registry or load_registry())
    if model.needs_roto and "roto" not in view.params:
        manifest = ShotFolder(view.shot_root).load_manifest()
        if manifest is None or manifest.done("roto") is None:
            raise BadInput(
                NO_ROTO,
                fix="Run `vfx-ingest run CLIP --stages roto,matte --prompt person` (or "
                "--points/--boxes), or --matte-model rvm-mobilenetv3 for people without roto",
            )
    return params


def run(ctx: StageContext, params: MatteParams) -> StageResult:
    from ..depth.plates import open_plates
    from ..matte.frames import MatteWriter, Outputs, matte_attributes
    from ..matte.models import find_model
    from ..models.registry import load_registry

    model = find_model(params.model, ctx.model_registry or load_registry())
    numbers = ctx.plate_numbers()
    first, last = _chunk(ctx, numbers)
    notes = [note] if (note := model.license_note()) else []
    for note in notes:
        ctx.progress(0, last - first + 1, f"note: {note}")
    directory = ctx.model_dir(model.id)
    labels = [PEOPLE]
    if model.needs_roto:
        from ..matte.masks import roto_labels

        labels = roto_labels(ctx.input_dir("roto"))
        if not labels:
            raise BadInput(
                NO_ROTO,
                where=str(ctx.input_dir("roto")),
                fix="Run `vfx-ingest run CLIP --stages roto,matte --prompt person`",
            )
    plates = open_plates(ctx.input_dir("plate"), numbers, list(range(first, last + 1)))
    band = params.trimap_band if model.needs_roto else None
    writer = MatteWriter(
        lambda name: ctx.output_path("matte", name),
        Outputs(foreground=params.foreground, png=params.png),
        matte_attributes(model.id, model.license, band),
    )
    job = _Job(ctx, params, plates, numbers, writer, labels, (first, last))
    if model.needs_roto:
        from ..matte.models import load_vitmatte

        stats = job.vitmatte(load_vitmatte(model, directory))
    else:
        from ..matte.models import load_rvm

        stats = job.rvm(load_rvm(model, directory))
    return StageResult(
        frames=ctx.frames if ctx.frame_range is None else None,
        stats={
            **stats,
            "objects": labels,
            "model": model.id,
            "license": model.license,
            "notes": notes,
        },
    )


class _Job:
    """One run of the stage: which frames each object gets, resumed where staged."""

    def __init__(
        self,
        ctx: StageContext,
        params: MatteParams,
        plates: PlateSequence,
        numbers: list[int],
        writer: MatteWriter,
        labels: list[str],
        span: tuple[int, int],
    ) -> None:
        self.ctx, self.params, self.plates = ctx, params, plates
        self.numbers, self.writer, self.labels = numbers, writer, labels
        self.first, self.last = span
        self.done = 0
        self.total = 0

    def _wanted(self, trim: int) -> tuple[int, int]:
        """Plate indices this run writes: its range, less ``trim`` frames at a chunk's
        start and end that are not the clip's, which only feed the temporal filter; a
        neighbouring chunk writes those."""
        lo = self.first + trim if self.first > 0 else self.first
        hi = self.last - trim if self.last < len(self.numbers) - 1 else self.last
        return lo, max(lo - 1, hi)

    def _frame(self, index: int) -> np.ndarray:
        from ..matte.refine import as_unit

        return as_unit(self.plates.load(index))

    def _write(self, label: str, index: int, alpha: np.ndarray, unit: np.ndarray) -> None:
        from ..matte.frames import foreground_values

        rgb = foreground_values(self.plates.path(index), unit) if self.params.foreground else unit
        self.writer.write(label, self.numbers[index], alpha, rgb)
        self.done += 1
        self.ctx.progress(self.done, self.total, label)

    def _first_missing(self, label: str, lo: int, hi: int) -> int | None:
        return next(
            (i for i in range(lo, hi + 1) if not self.writer.done(label, self.numbers[i])), None
        )

    def _masked(
        self, label: str, computed: tuple[int, int]
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(index, plate 0..1, bool mask) of ``label`` over the ``computed`` indices."""
        from ..depth.inference import prefetch
        from ..matte.masks import read_mask

        size = (self.plates.height, self.plates.width)

        def load(index: int) -> tuple[np.ndarray, np.ndarray]:
            mask = read_mask(self.ctx.input_dir("roto"), label, self.numbers[index], size)
            return self._frame(index), mask

        indices = list(range(computed[0], computed[1] + 1))
        # Decoding runs a few frames ahead, beside the network.
        ahead = prefetch(load, indices, 2, 4)  # type: ignore[arg-type]
        for index, (unit, mask) in zip(indices, ahead, strict=True):
            self.ctx.check_cancelled()
            yield index, unit, mask

    def vitmatte(self, network: object) -> dict:
        import torch

        from ..depth.inference import autocast_dtype
        from ..matte.refine import RefineOptions, Refiner
        from ..matte.vitmatte import VitMatteRunner

        radius = self.params.temporal
        lo, hi = self._wanted(radius)
        self.total = len(self.labels) * (hi - lo + 1)
        device = torch.device(self.ctx.device)
        runner = VitMatteRunner(
            network,
            self.ctx.device,
            batch=self.params.batch,
            dtype=autocast_dtype(self.params.precision, device),  # type: ignore[arg-type]
        )
        refiner = Refiner(
            runner,
            RefineOptions(self.params.trimap_band, self.params.max_internal_size, radius),
            self.ctx.device,
        )
        resumed = 0
        for label in self.labels:
            start = self._first_missing(label, lo, hi)
            if start is None:
                resumed += hi - lo + 1
                self.done += hi - lo + 1
                continue
            resumed += start - lo
            self.done += start - lo
            computed = (max(0, start - radius), min(len(self.numbers) - 1, hi + radius))
            with torch.inference_mode():
                for index, alpha, unit in refiner.run(
                    self._masked(label, computed), computed, (start, hi)
                ):
                    self._write(label, index, alpha, unit)
        return {
            "frames": hi - lo + 1,
            "resumed_frames": resumed,
            "tiles": runner.tiles,
            "network_pixels": runner.pixels,
        }

    def rvm(self, network: object) -> dict:
        from ..depth.inference import prefetch
        from ..matte import resume
        from ..matte.rvm import RvmRunner

        lo, hi = self.first, self.last  # one job: its state runs through the clip
        self.total = hi - lo + 1
        runner = RvmRunner(network, self.ctx.device)
        checkpoints = resume.Checkpoints(self.ctx.staging, {"first": self.first, "last": self.last})
        start = self.first
        saved = checkpoints.load()
        if saved is not None and self._first_missing(PEOPLE, lo, saved[0] - 1) is None:
            start = saved[0]
            runner.restore(saved[1])
        self.done = start - lo
        indices = list(range(start, self.last + 1))
        for index, unit in zip(indices, prefetch(self._frame, indices, 2, 4), strict=True):
            self.ctx.check_cancelled()
            self._write(PEOPLE, index, runner(unit), unit)
            checkpoints(index + 1, runner.state_dict, time.perf_counter())
        checkpoints.clear()
        return {"frames": hi - lo + 1, "resumed_frames": start - lo}


def _model_check(entry: ModelEntry) -> None:
    """The planner's check of the selected entry, with the registry the settings name."""
    from ..matte.models import matte_model

    matte_model(entry)


def _chunkable(params: MatteParams) -> bool:
    """VitMatte's frames depend on a few neighbours: chunks. RVM's recurrent state runs
    through the whole clip: one job."""
    from ..matte.models import find_model
    from ..models.registry import load_registry

    return find_model(params.model, load_registry()).kind != "rvm"


def stitch(ctx: StageContext, chunk_dirs: list[Path]) -> None:
    """Join chunk jobs' mattes: every frame was computed whole by one chunk (its overlap
    feeds only the filter), so frames are copied; a frame both chunks wrote is the same."""
    from ..matte.frames import PASS

    written: set[str] = set()
    for folder in chunk_dirs:
        base = folder / PASS
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            name = path.relative_to(base).as_posix()
            if name not in written:
                ctx.write_bytes(PASS, name, path.read_bytes())
                written.add(name)
    numbers = ctx.plate_numbers()
    labels = sorted({name.split("/")[0] for name in written})
    for label in labels or ["?"]:
        missing = [n for n in numbers if f"{label}/{frame_path('matte', n, 'exr')}" not in written]
        if missing:
            raise StageFailed(
                f"the matte chunks leave out {len(missing)} frame(s) of {label}, "
                f"first {missing[0]}",
                fix="Chunks must overlap by the stage's chunk overlap",
            )


SPEC = StageSpec(
    name="matte",
    version="1",
    summary="Soft straight alpha per roto object (VitMatte) or of people (RVM), half EXR.",
    needs=("plate",),
    produces=("matte",),
    params=MatteParams,
    run=run,
    # Roto is an input of VitMatte only (RVM finds people itself), so it is not run just
    # for this stage: ``settle`` stops a VitMatte run on a shot with no roto pass.
    uses=("roto",),
    device=DeviceNeeds(accelerator="optional", min_vram_gb=4),
    models=MODEL_IDS,
    model_param="model",
    chunking=Chunking(overlap=OVERLAP, min_frames=32),
    chunkable=_chunkable,
    stitch=stitch,
    settle=settle,
    model_check=_model_check,
    extras=("ml", "matte"),
)
