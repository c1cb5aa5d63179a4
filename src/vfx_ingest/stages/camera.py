"""Camera: solve the shot's camera with pycolmap and export it for Nuke, USD, nerfstudio.

Every frame gets a camera: keyframes are mapped, every other frame is registered against
the map, and a frame that cannot be registered is interpolated and flagged. Roto masks,
when the shot has them, keep features off moving objects. See ``vfx_ingest.camera`` for
the solve and the exports, and README's "Camera solve" for the conventions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..camera import presets
from ..camera.presets import Quality
from ..camera.scale import parse_scale
from .base import StageContext, StageParams, StageResult, StageSpec

DEFAULT_SENSOR_MM = 36.0  # full-frame width, for mm values when the sensor is not given


class CameraParams(StageParams):
    quality: Quality = Field(
        "balanced",
        description=f"{presets.describe()}.",
    )
    mapper: Literal["incremental", "global"] = Field(
        "incremental", description="pycolmap's incremental or global mapper for the keyframes."
    )
    camera_model: Literal["SIMPLE_RADIAL", "OPENCV", "PINHOLE"] = Field(
        "SIMPLE_RADIAL", description="COLMAP camera model (one camera for the whole shot)."
    )
    focal_mm: float | None = Field(
        None, gt=0, description="Known focal length in mm; held fixed unless --refine-focal."
    )
    sensor_mm: float | None = Field(
        None,
        gt=0,
        description=f"Sensor (film back) width in mm; default {DEFAULT_SENSOR_MM:g} (full frame).",
    )
    refine_focal: bool = Field(
        False, description="Use --focal-mm as the starting value and refine it."
    )
    up: Literal["auto", "y", "z"] = Field(
        "auto",
        description="Up axis: auto (ground plane, else camera up), y (mean camera up), "
        "z (against the view: top-down shots).",
    )
    scale: str | None = Field(
        None,
        description="Known measurement for metres: height=1.65 (camera above ground) or "
        "1001:1096=3.2 (camera travel between two frames).",
    )

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: str | None) -> str | None:
        if value is not None:
            parse_scale(value)
        return value

    @model_validator(mode="after")
    def _focal(self) -> CameraParams:
        if self.refine_focal and self.focal_mm is None:
            raise ValueError("--refine-focal needs --focal-mm (the value to start from)")
        return self


def run(ctx: StageContext, params: CameraParams) -> StageResult:
    # Heavy modules load here, not at import: the registry must stay cheap to import.
    from ..camera.run import run_stage

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
