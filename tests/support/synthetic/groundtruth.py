"""Ground-truth cameras of a rendered clip, in the `vfx-ingest.cameras/1` JSON schema.

The schema (and its one reader and writer) lives in `vfx_ingest.camera.cameras_json`: the
camera stage writes the same documents, so a solve and its truth compare field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vfx_ingest.camera.cameras_json import (
    SCHEMA,
    CamerasDoc,
    ImageSize,
    Intrinsics,
    World,
    frame_cameras,
)
from vfx_ingest.frames import DEFAULT_FIRST_FRAME

from .camera import Intrinsics as PinholeIntrinsics

__all__ = ["FIRST_FRAME", "SCHEMA", "GroundTruth"]

FIRST_FRAME = DEFAULT_FIRST_FRAME  # the plate's numbering, as ingest writes it


@dataclass
class GroundTruth:
    intrinsics: PinholeIntrinsics
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

    def to_doc(self) -> CamerasDoc:
        k = self.intrinsics
        return CamerasDoc(
            world=World(up=[0, 1, 0], units="meters", note="ground plane y=0"),
            image=ImageSize(width=k.width, height=k.height),
            fps=self.fps,
            intrinsics=Intrinsics(
                model="PINHOLE",
                fx=k.fx,
                fy=k.fy,
                cx=k.cx,
                cy=k.cy,
                distortion=[],
                focal_mm=k.focal_mm,
                sensor_width_mm=k.sensor_width_mm,
                sensor_height_mm=k.sensor_height_mm,
            ),
            frames=frame_cameras(self.frame_numbers, self.c2w, self.solved),
        )

    @classmethod
    def from_doc(cls, doc: CamerasDoc) -> GroundTruth:
        i = doc.intrinsics
        intr = PinholeIntrinsics(
            width=doc.image.width,
            height=doc.image.height,
            fx=i.fx,
            fy=i.fy,
            cx=i.cx,
            cy=i.cy,
            focal_mm=i.focal_mm,
            sensor_width_mm=i.sensor_width_mm,
            sensor_height_mm=i.sensor_height_mm,
        )
        return cls(
            intrinsics=intr,
            fps=float(doc.fps),
            c2w=doc.c2w(),
            first_frame=doc.frames[0].frame,
            solved=[f.solved for f in doc.frames],
        )

    def to_json(self) -> str:
        """Indented JSON with one line per frame (readable, diff-friendly, exact floats)."""
        return self.to_doc().to_json()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        return cls.from_doc(CamerasDoc.load(path))
