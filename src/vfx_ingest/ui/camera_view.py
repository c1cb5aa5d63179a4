"""The camera path as two orthographic views (top and side) for an SVG on the shot page.

From ``camera/cameras.json`` (OpenCV axes, camera-to-world): the path is the camera
centres; a frustum marker (a triangle from the centre along the view direction) is drawn
every ``every`` frames. The top view looks down the world's up axis, the side view along
the world X axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..camera.cameras_json import CamerasDoc
from ..manifest import StageRecord

SIZE = 320  # each view is SIZE x SIZE SVG units
MARGIN = 24


class Marker(BaseModel):
    frame: int
    points: str  # SVG polygon points
    solved: bool


class View(BaseModel):
    name: str
    path: str  # SVG polyline points
    markers: list[Marker]


class CameraView(BaseModel):
    views: list[View]
    every: int
    frames: int
    figures: dict[str, str]


def default_every(count: int) -> int:
    """About 24 markers however long the shot."""
    return max(1, round(count / 24))


def camera_view(path: Path, record: StageRecord | None, every: int | None = None) -> CameraView:
    doc = CamerasDoc.load(path)
    c2w = doc.c2w()
    step = every or default_every(len(doc.frames))
    up = np.asarray(doc.world.up, float)
    axis = int(np.argmax(np.abs(up)))
    sign = float(np.sign(up[axis]))
    # (horizontal, vertical) world axes of each view; vertical up means SVG y grows down.
    horizontal = [i for i in range(3) if i != axis]
    planes = {
        "top": (horizontal[0], horizontal[1], 1.0),
        "side": (horizontal[1], axis, -sign),
    }
    centres = c2w[:, :3, 3]
    forward = c2w[:, :3, 2]
    right = c2w[:, :3, 0]
    views = []
    for name, (h, v, flip) in planes.items():
        xy = np.stack([centres[:, h], flip * centres[:, v]], axis=1)
        low, high = xy.min(axis=0), xy.max(axis=0)
        span = float(max(high - low)) or 1.0
        scale = (SIZE - 2 * MARGIN) / span
        offset = (SIZE - (high - low) * scale) / 2

        def to_svg(points: np.ndarray, low=low, scale=scale, offset=offset) -> str:
            screen = (points - low) * scale + offset
            return " ".join(f"{x:.1f},{y:.1f}" for x, y in screen)

        size = 0.05 * span  # marker length in world units
        markers = []
        for i in range(0, len(doc.frames), step):
            tip = np.array([forward[i, h], flip * forward[i, v]])
            side = np.array([right[i, h], flip * right[i, v]])
            if name == "side":
                side = np.array([-tip[1], tip[0]])  # perpendicular in the view's plane
            triangle = np.stack(
                [xy[i], xy[i] + size * (tip + 0.5 * side), xy[i] + size * (tip - 0.5 * side)]
            )
            markers.append(
                Marker(
                    frame=doc.frames[i].frame, points=to_svg(triangle), solved=doc.frames[i].solved
                )
            )
        views.append(View(name=name, path=to_svg(xy), markers=markers))
    return CameraView(
        views=views, every=step, frames=len(doc.frames), figures=_figures(doc, record)
    )


def _figures(doc: CamerasDoc, record: StageRecord | None) -> dict[str, str]:
    stats = doc.solve.model_dump() if doc.solve is not None else (record.stats if record else {})
    k = doc.intrinsics
    figures = {
        "frames": str(len(doc.frames)),
        "focal": f"{k.focal_mm:.2f} mm ({k.fx:.1f} px), {k.model}",
        "units": doc.world.units,
    }
    if "registered" in stats:
        figures["registered"] = f"{stats['registered']} of {stats.get('frames', len(doc.frames))}"
    if "mean_reprojection_error" in stats:
        figures["reprojection error"] = f"{stats['mean_reprojection_error']:.3f} px"
    if stats.get("interpolated"):
        figures["interpolated"] = ", ".join(str(f) for f in stats["interpolated"])
    return figures
