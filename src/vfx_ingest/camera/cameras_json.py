"""The `vfx-ingest.cameras/1` JSON schema: one shot's cameras, frame by frame.

The camera stage writes it as ``camera/cameras.json``; the synthetic renderer writes its
ground truth in it. This module is its only reader and writer.

    {
      "schema": "vfx-ingest.cameras/1",
      "convention": "opencv",    # camera x right, y down, z forward; c2w is camera-to-world
      "world": {"up": [0, 1, 0], "units": "meters", "note": "..."},
      "image": {"width": W, "height": H},
      "fps": 24,
      "intrinsics": {"model": "SIMPLE_RADIAL", "fx", "fy", "cx", "cy", "distortion": [k],
                     "focal_mm", "sensor_width_mm", "sensor_height_mm"},
      "frames": [{"frame": 1001, "c2w": [[...4x4 row-major...]], "solved": true,
                  "reprojection_error": 0.41}, ...],
      "solve": {...}             # the solve's statistics (absent in ground truth)
    }

- ``distortion`` holds the COLMAP model's extra parameters in COLMAP's order: ``[]`` for
  PINHOLE, ``[k]`` for SIMPLE_RADIAL, ``[k1, k2, p1, p2]`` for OPENCV.
- Pixel centres follow COLMAP: pixel (u, v) has its centre at (u + 0.5, v + 0.5), so a
  centred principal point is (width / 2, height / 2).
- ``solved`` is false for a frame whose camera was interpolated from its solved
  neighbours; such frames have no ``reprojection_error``.
- ``world.units`` is ``meters`` when the scale is known (ground truth, or a solve given
  ``--scale``) and ``solver units`` otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    import numpy as np

SCHEMA = "vfx-ingest.cameras/1"
CameraModelName = Literal["PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class World(_Strict):
    up: list[int] = Field(description="The world's up axis, e.g. [0, 1, 0].")
    units: str = Field(description="'meters' when the scale is known, else 'solver units'.")
    note: str = ""


class ImageSize(_Strict):
    width: int
    height: int


class Intrinsics(_Strict):
    model: CameraModelName
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: list[float] = Field(description="COLMAP extra parameters, COLMAP's order.")
    focal_mm: float
    sensor_width_mm: float
    sensor_height_mm: float


class FrameCamera(_Strict):
    frame: int
    c2w: list[list[float]] = Field(description="4x4 camera-to-world, row-major, OpenCV axes.")
    solved: bool = True
    reprojection_error: float | None = Field(None, description="Mean, pixels; solved frames.")

    @field_validator("c2w")
    @classmethod
    def _four_by_four(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 4 or any(len(row) != 4 for row in value):
            raise ValueError("c2w must be a 4x4 matrix")
        return value


class SolveStats(_Strict):
    """How the solve went and what it assumed; also the camera stage's record stats."""

    frames: int
    registered: int = Field(description="Frames whose camera the solver found.")
    interpolated: list[int] = Field(description="Frames whose camera was interpolated.")
    keyframes: int
    points: int
    mean_reprojection_error: float = Field(description="Pixels, over all observations.")
    matched_pairs: int
    mapper: str
    quality: str
    camera_model: str
    focal: Literal["fixed", "prior", "estimated"]
    up: str = Field(description="How the up axis was chosen.")
    scale: str = Field(description="How the scale was set.")
    units: str = Field(description="'meters' or 'solver units'.")
    sensor_width_mm: float
    focal_mm: float | None = Field(None, description="Solved focal length, mm on that back.")
    sensor: str = Field(description="Where the sensor width comes from.")
    sift: str = Field(description="cpu or cuda")
    warnings: list[str] = Field(default_factory=list, description="What to check in the solve.")
    timings_s: dict[str, float] = Field(default_factory=dict)


class CamerasDoc(_Strict):
    """A whole `cameras.json` document."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["vfx-ingest.cameras/1"] = Field(SCHEMA, alias="schema")
    convention: Literal["opencv"] = "opencv"
    world: World
    image: ImageSize
    fps: int | float
    intrinsics: Intrinsics
    frames: list[FrameCamera]
    solve: SolveStats | None = None

    @field_validator("frames")
    @classmethod
    def _consecutive(cls, frames: list[FrameCamera]) -> list[FrameCamera]:
        frames = sorted(frames, key=lambda f: f.frame)
        numbers = [f.frame for f in frames]
        if not numbers or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            raise ValueError("frame numbers must be consecutive")
        return frames

    @field_validator("fps")
    @classmethod
    def _integral_fps(cls, fps: float) -> int | float:
        return int(fps) if float(fps).is_integer() else float(fps)

    # -- numpy views ----------------------------------------------------------------------

    def c2w(self) -> np.ndarray:
        """Camera-to-world matrices (N, 4, 4), OpenCV axes, in frame order."""
        import numpy as np

        return np.array([f.c2w for f in self.frames], dtype=float)

    def frame_numbers(self) -> list[int]:
        return [f.frame for f in self.frames]

    # -- I/O -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> str:
        """Indented JSON with one line per frame (readable, diff-friendly, exact floats)."""
        doc = self.to_dict()
        frames = ",\n".join("    " + json.dumps(f) for f in doc["frames"])
        text = json.dumps({**doc, "frames": "@FRAMES@"}, indent=2)
        return text.replace('"@FRAMES@"', "[\n" + frames + "\n  ]") + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CamerasDoc:
        """Validate a parsed document; ValueError says what is wrong with it."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else None
            raise ValueError(f"not a {SCHEMA} document (schema={found!r})")
        if data.get("convention") != "opencv":
            raise ValueError(f"unsupported camera convention {data.get('convention')!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"invalid {SCHEMA} document at {where}: {first['msg']}") from exc

    @classmethod
    def load(cls, path: str | Path) -> CamerasDoc:
        return cls.from_dict(json.loads(Path(path).read_text()))


def frame_cameras(
    numbers: list[int],
    c2w: np.ndarray,
    solved: list[bool] | None = None,
    errors: list[float | None] | None = None,
) -> list[FrameCamera]:
    """Per-frame entries from arrays: (N, 4, 4) poses, flags and reprojection errors."""
    solved = solved if solved is not None else [True] * len(numbers)
    errors = errors if errors is not None else [None] * len(numbers)
    return [
        FrameCamera(frame=n, c2w=m.tolist(), solved=bool(ok), reprojection_error=e)
        for n, m, ok, e in zip(numbers, c2w, solved, errors, strict=True)
    ]


def quality_line(stats: dict[str, Any]) -> str:
    """How good a camera solve is, in a line, from the camera record's stats ("" for any
    other stage's stats): frames registered, reprojection error, focal length."""
    try:
        solve = SolveStats.model_validate(stats)
    except ValidationError:
        return ""
    parts = [
        f"{solve.registered}/{solve.frames} frames registered",
        f"reprojection error {solve.mean_reprojection_error:.2f} px",
    ]
    if solve.focal_mm is not None:
        parts.append(f"focal {solve.focal_mm:.1f} mm ({solve.focal})")
    return ", ".join(parts)
