"""Roto: per-object video masks with SAM 2.1 (clicks, boxes) or SAM 3 (text prompts).

``roto/<label>/roto.1001.png`` ...: 8-bit masks (0 or 255) at the plate's size, one folder
per object and one file per plate frame (empty where the object is absent); text prompts
give one folder per instance (``person_01``, ``person_02``...). ``roto/objects.json`` lists
the objects (label, instance id, per-frame presence and score), the prompts and the model;
``roto/prompts.json`` holds the prompts this pass was made with (the input of the next run
when none is given). With ``--roto-soft``, ``roto/<label>/soft/roto_soft.1001.png`` holds
the upsampled probability (8-bit) for the matte stage. See ``vfx_ingest.roto`` and
docs/roto.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from ..errors import BadInput
from ..roto.models import DEFAULT_CLICK_MODEL, DEFAULT_TEXT_MODEL, MODEL_IDS, check_model_for
from ..roto.prompts import PROMPT_FIELDS, RotoPrompts, prompts_from_options
from .base import (
    Chunking,
    DeviceNeeds,
    PlanView,
    StageContext,
    StageParams,
    StageResult,
    StageSpec,
)


class RotoParams(StageParams):
    prompt: str | None = Field(
        None,
        description="SAM 3 text prompts, comma-separated (person,car): every instance gets "
        "its own folder (person_01, person_02...).",
        json_schema_extra={"cli": "--prompt"},
    )
    points: str | None = Field(
        None,
        description="Clicks in plate pixels, FRAME:x,y[;FRAME:x,y...]; add ,0 for a "
        "background click (1001:640,360;1040:700,300,0).",
        json_schema_extra={"cli": "--points"},
    )
    boxes: str | None = Field(
        None,
        description="Boxes in plate pixels, FRAME:x0,y0,x1,y1[;...].",
        json_schema_extra={"cli": "--boxes"},
    )
    label: str | None = Field(
        None,
        description="Name of the object --points/--boxes select (default: object).",
        json_schema_extra={"cli": "--label"},
    )
    prompts: str | None = Field(
        None,
        description="Prompts file (JSON, docs/roto.md): several objects, corrections on "
        "later frames. Default: the shot's roto/prompts.json.",
        json_schema_extra={"cli": "--prompts"},
    )
    model: str | None = Field(
        None,
        description=f"{', '.join(MODEL_IDS)} (default: {DEFAULT_TEXT_MODEL} for text, "
        f"{DEFAULT_CLICK_MODEL} for clicks and boxes).",
        json_schema_extra={"cli": "--roto-model"},
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="Arithmetic: auto is bf16 on CUDA, fp32 on CPU.",
        json_schema_extra={"cli": "--roto-precision"},
    )
    threshold: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Mask probability above which a pixel is in the object.",
        json_schema_extra={"cli": "--roto-threshold"},
    )
    detection: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="SAM 3: score above which a text-prompt instance is kept.",
        json_schema_extra={"cli": "--roto-detection"},
    )
    grow: int = Field(
        0,
        ge=-256,
        le=256,
        description="Grow (positive) or shrink (negative) every mask by this many pixels.",
        json_schema_extra={"cli": "--roto-grow"},
    )
    fill_holes: int = Field(
        0,
        ge=0,
        description="Fill holes in a mask smaller than this many pixels (0: none).",
        json_schema_extra={"cli": "--roto-fill-holes"},
    )
    min_area: int = Field(
        0,
        ge=0,
        description="Drop mask islands smaller than this many pixels (0: keep all).",
        json_schema_extra={"cli": "--roto-min-area"},
    )
    direction: Literal["forward", "both"] = Field(
        "both",
        description="forward: from the first prompt frame on; both: also backward to the "
        "plate's first frame.",
        json_schema_extra={"cli": "--roto-direction"},
    )
    soft: bool = Field(
        False,
        description="Also write 8-bit soft masks (roto/<label>/soft/) for the matte stage.",
        json_schema_extra={"cli": "--roto-soft"},
    )

    @field_validator("prompt", "points", "boxes", "label")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def given_prompts(self) -> bool:
        return any(getattr(self, name) is not None for name in PROMPT_FIELDS)

    def objects(self) -> RotoPrompts:
        """The prompts as one structure (the prompts file's), whatever form they came in."""
        return prompts_from_options(
            prompt=self.prompt,
            points=self.points,
            boxes=self.boxes,
            label=self.label,
            prompts=self.prompts,
        )


NO_PROMPT = (
    "roto needs a prompt and this shot has no roto pass yet: give --prompt TEXT (SAM 3), "
    "--points/--boxes with --label, or --prompts FILE (or put roto/prompts.json in the shot)"
)


def settle(params: RotoParams, view: PlanView) -> RotoParams:
    """Before any work: the prompts this run uses, checked against the plate.

    Without prompts, the shot's last roto pass is reused as it was made (its params, with
    any option given now on top), so a run that needs roto only as an input (``--stages
    matte``) finds it cached; else the shot's ``roto/prompts.json``; else BadInput."""
    from ..roto.prompts import load_prompts_file

    if not params.given_prompts():
        file = view.shot_root / "roto" / "prompts.json"
        if (previous := _previous(params, view)) is not None:
            params = previous
        elif file.is_file():
            params = params.model_copy(update={"prompts": str(file)})
        else:
            raise BadInput(
                NO_PROMPT, fix="e.g. `vfx-ingest run CLIP --stages roto,matte --prompt person`"
            )
    if params.prompts is not None and not params.prompts.lstrip().startswith("{"):
        # A path is read here, on the machine that plans the run: the job carries the
        # prompts themselves, so remote workers need no copy of the file.
        params = params.model_copy(update={"prompts": load_prompts_file(Path(params.prompts))})
    objects = params.objects()
    if params.prompts is not None:
        params = params.model_copy(update={"prompts": objects.canonical()})
    if (plate := _planned_plate(view)) is not None:
        objects.check_plate(*plate)
    model = params.model or (DEFAULT_TEXT_MODEL if objects.is_text() else DEFAULT_CLICK_MODEL)
    check_model_for(model, text=objects.is_text())
    return params.model_copy(update={"model": model})


def _previous(params: RotoParams, view: PlanView) -> RotoParams | None:
    """The last pass's params with the options given now on top; None without a pass
    (or with one made by a version whose params no longer validate)."""
    if view.previous is None:
        return None
    given = {name: getattr(params, name) for name in params.model_fields_set}
    try:
        return RotoParams.model_validate({**view.previous, **given})
    except ValidationError:
        return None


def _planned_plate(view: PlanView) -> tuple[list[int], int, int] | None:
    """Frame numbers, width and height of the plate this run reads: what this run's ingest
    makes, else the shot's as it stands; None when neither is known."""
    from .ingest import IngestParams, frame_plan, plate_numbers

    ingest = view.params.get("ingest")
    if view.probe is not None and isinstance(ingest, IngestParams):
        _, width, height = frame_plan(ingest, view.probe)
        return plate_numbers(ingest, view.probe), width, height
    if view.frames is not None:
        return view.frames.numbers(), view.frames.width, view.frames.height
    return None


def run(ctx: StageContext, params: RotoParams) -> StageResult:
    from ..roto.run import RotoOptions, run_roto

    numbers = ctx.plate_numbers()
    if not numbers:
        raise BadInput(
            "the shot has no plate frames", where=str(ctx.input_dir("plate")), fix="Run ingest"
        )
    model_id = params.model or DEFAULT_CLICK_MODEL
    directory = ctx.models.get(model_id)
    if directory is None:
        raise BadInput(
            f"the {model_id} weights are not available to this run",
            fix=f"Run `vfx-ingest models sync {model_id}`",
        )
    stats = run_roto(
        plate_dir=ctx.input_dir("plate"),
        numbers=numbers,
        frame_range=ctx.frame_range,
        objects=params.objects(),
        model_id=model_id,
        model_dir=Path(directory),
        device=ctx.device,
        options=RotoOptions(
            precision=params.precision,
            threshold=params.threshold,
            detection=params.detection,
            grow=params.grow,
            fill_holes=params.fill_holes,
            min_area=params.min_area,
            direction=params.direction,
            soft=params.soft,
        ),
        write=lambda relpath, data: ctx.write_bytes("roto", relpath, data),
        progress=lambda done, total, message="": ctx.progress(done, total, message),
    )
    return StageResult(frames=ctx.frames if ctx.frame_range is None else None, stats=stats)


def stitch(ctx: StageContext, chunk_dirs: list[Path]) -> None:
    """Join text-prompt chunks: instances matched across each overlap by mask IoU (an
    optimal assignment), the later chunk owning the overlap (see ``roto.stitch``)."""
    from ..roto.stitch import stitch_chunks

    stitch_chunks(
        [d / "roto" for d in chunk_dirs],
        write=lambda relpath, data: ctx.write_bytes("roto", relpath, data),
        progress=lambda done, total: ctx.progress(done, total),
    )


def _chunkable(params: RotoParams) -> bool:
    """Text prompts detect anew in every chunk; clicks, boxes and masks live on their
    frames, so a chunk without them could not start: one job."""
    return params.prompt is not None or (
        params.prompts is not None and RotoPrompts.model_validate_json(params.prompts).is_text()
    )


SPEC = StageSpec(
    name="roto",
    version="1",
    summary="Per-object masks (SAM 2.1 clicks/boxes, SAM 3 text) as 8-bit PNG.",
    needs=("plate",),
    produces=("roto",),
    params=RotoParams,
    run=run,
    device=DeviceNeeds(accelerator="optional", min_vram_gb=8),
    models=MODEL_IDS,
    model_param="model",
    # Text prompts only (``_chunkable``). 16 shared frames are enough to match instances by
    # IoU; chunks below 96 frames would spend too much on loading the model and re-detecting.
    chunking=Chunking(overlap=16, min_frames=96),
    chunkable=_chunkable,
    stitch=stitch,
    settle=settle,
    extras=("ml", "roto"),
)
