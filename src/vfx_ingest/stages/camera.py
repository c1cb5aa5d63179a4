"""Camera: solve the shot's camera with pycolmap and export it for Nuke, USD, nerfstudio.

Every frame gets a camera: keyframes are mapped, every other frame is registered against
the map, and a frame that cannot be registered is interpolated and flagged. Roto masks,
when the shot has them, keep features off moving objects. See ``vfx_ingest.camera`` for
the solve and the exports, and README's "Camera solve" for the conventions.
"""

from __future__ import annotations

from .base import StageContext, StageResult, StageSpec
from .camera_params import DEFAULT_SENSOR_MM, CameraParams

__all__ = ["DEFAULT_SENSOR_MM", "SPEC", "CameraParams"]


def run(ctx: StageContext, params: CameraParams) -> StageResult:
    # Heavy modules load here, not at import: the registry must stay cheap to import.
    from .camera_solve import run_stage

    return run_stage(ctx, params)


SPEC = StageSpec(
    name="camera",
    version="1",
    summary="Solve the camera (pycolmap); export cameras.json, .chan, .nk, USD, nerfstudio.",
    needs=("plate",),
    produces=("camera",),
    params=CameraParams,
    run=run,
    uses=("roto",),
    extras=("camera",),
)
