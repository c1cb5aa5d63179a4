"""The camera stage's params (apart from ``camera.py``, so that the solve's glue in
``camera_solve.py`` reads them without importing the stage's declaration, which imports it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..camera.presets import Quality
from ..camera.scale import parse_scale
from .base import StageParams

DEFAULT_SENSOR_MM = 36.0  # full-frame width, for mm values when the sensor is not given


class CameraParams(StageParams):
    quality: Quality = Field(
        "balanced",
        description="fast | balanced | best: features, keyframe density and matching "
        "(README's quality table).",
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
