"""Ground-truth cameras of a rendered clip, in the `vfx-ingest.cameras/1` JSON schema.

The same schema is what the camera stage writes as `cameras.json`:

    {
      "schema": "vfx-ingest.cameras/1",
      "convention": "opencv",     # camera x right, y down, z forward; matrices are camera-to-world
      "world": {"up": [0, 1, 0], "units": "meters", "note": "ground plane y=0"},
      "image": {"width": W, "height": H},
      "fps": 24,
      "intrinsics": {"model": "PINHOLE", "fx", "fy", "cx", "cy", "distortion": [],
                     "focal_mm", "sensor_width_mm", "sensor_height_mm"},
      "frames": [{"frame": 1001, "c2w": [[...4x4 row-major...]], "solved": true}, ...]
    }

Pixel centres follow COLMAP: pixel (u, v) has its centre at (u + 0.5, v + 0.5), so a centred
principal point is (width / 2, height / 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import Intrinsics

SCHEMA = "vfx-ingest.cameras/1"
FIRST_FRAME = 1001


@dataclass
class GroundTruth:
    intrinsics: Intrinsics
    fps: float
    c2w: np.ndarray  # (N, 4, 4) camera-to-world, OpenCV axes
    first_frame: int = FIRST_FRAME
    solved: list[bool] | None = None  # per frame; None means all solved
    # Per-frame depth (N, H, W) float32 metres, camera-space z; kept in memory, not in JSON.
    depth: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def frame_numbers(self) -> list[int]:
        return list(range(self.first_frame, self.first_frame + len(self.c2w)))

    @property
    def camera_centres(self) -> np.ndarray:
        return self.c2w[:, :3, 3]

    def to_dict(self) -> dict:
        k = self.intrinsics
        solved = self.solved or [True] * len(self.c2w)
        fps = int(self.fps) if float(self.fps).is_integer() else float(self.fps)
        return {
            "schema": SCHEMA,
            "convention": "opencv",
            "world": {"up": [0, 1, 0], "units": "meters", "note": "ground plane y=0"},
            "image": {"width": k.width, "height": k.height},
            "fps": fps,
            "intrinsics": {
                "model": "PINHOLE",
                "fx": k.fx,
                "fy": k.fy,
                "cx": k.cx,
                "cy": k.cy,
                "distortion": [],
                "focal_mm": k.focal_mm,
                "sensor_width_mm": k.sensor_width_mm,
                "sensor_height_mm": k.sensor_height_mm,
            },
            "frames": [
                {"frame": n, "c2w": m.tolist(), "solved": bool(ok)}
                for n, m, ok in zip(self.frame_numbers, self.c2w, solved, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> GroundTruth:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema={data.get('schema')!r})")
        if data.get("convention") != "opencv":
            raise ValueError(f"unsupported camera convention {data.get('convention')!r}")
        i, img = data["intrinsics"], data["image"]
        intr = Intrinsics(
            width=int(img["width"]),
            height=int(img["height"]),
            fx=float(i["fx"]),
            fy=float(i["fy"]),
            cx=float(i["cx"]),
            cy=float(i["cy"]),
            focal_mm=float(i["focal_mm"]),
            sensor_width_mm=float(i["sensor_width_mm"]),
            sensor_height_mm=float(i["sensor_height_mm"]),
        )
        frames = sorted(data["frames"], key=lambda f: f["frame"])
        numbers = [int(f["frame"]) for f in frames]
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            raise ValueError("frame numbers must be consecutive")
        return cls(
            intrinsics=intr,
            fps=float(data["fps"]),
            c2w=np.array([f["c2w"] for f in frames], dtype=float),
            first_frame=numbers[0],
            solved=[bool(f.get("solved", True)) for f in frames],
        )

    def to_json(self) -> str:
        """Indented JSON with one line per frame (readable, diff-friendly, exact floats)."""
        doc = self.to_dict()
        frames = ",\n".join("    " + json.dumps(f) for f in doc["frames"])
        text = json.dumps({**doc, "frames": "@FRAMES@"}, indent=2)
        return text.replace('"@FRAMES@"', "[\n" + frames + "\n  ]") + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        return cls.from_dict(json.loads(Path(path).read_text()))
