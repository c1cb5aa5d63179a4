"""Stages for the Modal backend's tests, registered in the test process and, through
``VFX_TEST_STAGES=1``, in the double's containers (no stage of ours loads weights and uses
a GPU yet): ``tint`` and ``environ`` below, and ``frames`` (chunkable) from
remote_stages.py.

``tint`` reads the plate and the weights of ``vda-base`` (whatever bytes the test put in
the Hub cache) and writes, per frame, a line with the frame's and the weights' sha256: its
outputs show that the plate was uploaded and the model read from the models volume.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from pydantic import Field

from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import DeviceNeeds, StageContext, StageParams, StageResult, StageSpec

WEIGHTS = "video_depth_anything_vitb.pth"


class TintParams(StageParams):
    pause: float = Field(0.0, description="Seconds per frame.", json_schema_extra={"cache": False})


def _tint(ctx: StageContext, params: TintParams) -> StageResult:
    weights = hashlib.sha256((ctx.models["vda-base"] / WEIGHTS).read_bytes()).hexdigest()
    frames = sorted(ctx.input_dir("plate").glob("*.png"))
    for done, frame in enumerate(frames, 1):
        plate = hashlib.sha256(frame.read_bytes()).hexdigest()
        ctx.write_bytes("tint", frame.with_suffix(".txt").name, f"{plate} {weights}\n".encode())
        time.sleep(params.pause)
        ctx.progress(done, len(frames))
    return StageResult(stats={"frames": len(frames)})


TINT = StageSpec(
    name="tint",
    version="1",
    summary="test stage: plate and weights digests per frame",
    needs=("plate",),
    produces=("tint",),
    params=TintParams,
    run=_tint,
    device=DeviceNeeds(accelerator="optional", min_vram_gb=20),
    models=("vda-base",),
    extras=("ml",),
)


def _environ(ctx: StageContext, params: StageParams) -> StageResult:
    # Names only, and the values that are paths (no secret reaches a shot folder).
    seen = {
        "names": sorted(os.environ),
        "paths": {
            k: v
            for k, v in os.environ.items()
            if k in ("HOME", "VFX_INGEST_MODELS_DIR", "XDG_CONFIG_HOME", "VFX_INGEST_CONFIG")
        },
    }
    ctx.write_bytes("environ", "environ.json", json.dumps(seen).encode())
    return StageResult(stats={})


ENVIRON = StageSpec(
    name="environ",
    version="1",
    summary="test stage: the names in the worker's environment",
    needs=("plate",),
    produces=("environ",),
    params=StageParams,
    run=_environ,
)


def register() -> None:
    from remote_stages import FRAMES

    REGISTRY["tint"] = TINT
    REGISTRY["environ"] = ENVIRON
    REGISTRY["frames"] = FRAMES
