"""Put the solve in a VFX world: Y up, ground at y = 0, a known scale when one is given.

A solver's world has no up, no origin and no unit. We choose, and say what we chose:

- **up** (``--up``):
  - ``auto``: the normal of the dominant plane of the sparse points that lies below the
    cameras and within 45 degrees of their mean up vector (the ground: RANSAC over the
    points, refined by least squares), when at least 10% of the points lie on it;
    otherwise the cameras' mean up vector (their image "up", -y in OpenCV axes), which
    assumes the camera was held roughly level;
  - ``y``: the cameras' mean up vector, always (skip the plane);
  - ``z``: against the cameras' mean viewing direction, for top-down shots (a drone
    looking at the ground).
- **heading**: the first solved camera looks towards -Z (as a new camera does in Nuke,
  Maya, Houdini and USD).
- **origin**: below the first solved camera on the ground plane when there is one (so
  its height is its y), else at the first solved camera.
- **scale** (``--scale``): metres from a known camera height or travel distance;
  otherwise the solver's own units, and ``world.units`` says ``solver units``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pycolmap

from ..errors import BadInput
from .scale import ScaleSpec

UpMethod = Literal["auto", "y", "z"]
MAX_PLANE_TILT_DEG = 45.0
MIN_PLANE_SHARE = 0.10
RANSAC_TRIALS = 400
SEED = 0
_X, _Y, _Z = np.eye(3)


@dataclass(frozen=True)
class Plane:
    normal: np.ndarray  # unit, pointing to the cameras' side
    offset: float  # n . x + offset = 0 on the plane
    share: float  # fraction of the points on it

    def height(self, point: np.ndarray) -> float:
        return float(self.normal @ point + self.offset)


@dataclass(frozen=True)
class Orientation:
    new_from_old: pycolmap.Sim3d
    up: str  # how the up axis was chosen, for the record
    scale: str
    metric: bool


def orient(
    c2w: np.ndarray,
    frames: list[int],
    points: np.ndarray,
    method: UpMethod,
    scale: ScaleSpec | None,
) -> Orientation:
    """The similarity that takes the solver's world to ours, from the solved cameras
    ``c2w`` (N, 4, 4, OpenCV axes) of ``frames`` and the sparse ``points`` (M, 3)."""
    centres = c2w[:, :3, 3]
    camera_up = _unit(-c2w[:, :3, 1].mean(axis=0))
    plane = ground_plane(points, centres, camera_up) if method == "auto" or scale else None
    if method == "z":
        up, how = _unit(-c2w[:, :3, 2].mean(axis=0)), "against the mean view direction"
    elif method == "y" or plane is None:
        up, how = camera_up, "mean camera up" + (" (no ground plane found)" * (method == "auto"))
    else:
        tilt = np.degrees(np.arccos(np.clip(plane.normal @ camera_up, -1, 1)))
        up = plane.normal
        how = f"ground plane ({plane.share:.0%} of the points, {tilt:.1f} deg from camera up)"
    rotation = _yaw_to_minus_z(_rotate_onto(up, _Y, _X), c2w[0])
    origin = centres[0] if plane is None else centres[0] - plane.height(centres[0]) * plane.normal
    factor, scale_note = _scale(scale, plane, centres, frames)
    sim = pycolmap.Sim3d(factor, pycolmap.Rotation3d(rotation), -factor * rotation @ origin)
    return Orientation(new_from_old=sim, up=how, scale=scale_note, metric=scale is not None)


def ground_plane(points: np.ndarray, centres: np.ndarray, camera_up: np.ndarray) -> Plane | None:
    """The dominant plane below the cameras, tilted at most 45 degrees from their up."""
    pts = np.asarray(points, float)
    if len(pts) < 30:
        return None
    middle = np.median(pts, axis=0)
    spread = float(np.median(np.linalg.norm(pts - middle, axis=1)))
    pts = pts[np.linalg.norm(pts - middle, axis=1) < 5 * spread]  # drop far outliers
    tolerance = 0.02 * spread
    rng = np.random.default_rng(SEED)
    min_cos = np.cos(np.radians(MAX_PLANE_TILT_DEG))
    best: np.ndarray | None = None
    for _ in range(RANSAC_TRIALS):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        if np.linalg.norm(normal) < 1e-12:
            continue
        normal = _unit(normal)
        if abs(normal @ camera_up) < min_cos:
            continue
        inliers = np.abs((pts - a) @ normal) < tolerance
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < max(30, MIN_PLANE_SHARE * len(pts)):
        return None
    on = pts[best]
    centre = on.mean(axis=0)
    normal = np.linalg.svd(on - centre)[2][-1]  # least-squares normal of the inliers
    if np.mean((centres - centre) @ normal) < 0:
        normal = -normal  # towards the cameras
    if normal @ camera_up < min_cos:
        return None  # a ceiling or a wall, not the ground
    return Plane(normal=normal, offset=float(-normal @ centre), share=float(best.mean()))


def _scale(
    spec: ScaleSpec | None, plane: Plane | None, centres: np.ndarray, frames: list[int]
) -> tuple[float, str]:
    if spec is None:
        return 1.0, "solver units (no --scale given)"
    if spec.height:
        if plane is None:
            raise BadInput(
                "--scale height=... needs a ground plane and none was found in the solve",
                fix="Give the distance between two frames' cameras instead (--scale A:B=M)",
            )
        measured = plane.height(centres[0])
    else:
        assert spec.frames is not None
        missing = [f for f in spec.frames if f not in frames]
        if missing:
            raise BadInput(
                f"--scale names frame {missing[0]}, which has no solved camera",
                fix=f"Choose two solved frames between {frames[0]} and {frames[-1]}",
            )
        a, b = (frames.index(f) for f in spec.frames)
        measured = float(np.linalg.norm(centres[a] - centres[b]))
    if measured <= 1e-9:
        raise BadInput(f"--scale: the measured {spec.describe()} is zero in the solve")
    return spec.metres / measured, spec.describe()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotate_onto(a: np.ndarray, b: np.ndarray, half_turn_axis: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b`` (a half turn
    about ``half_turn_axis`` when they are opposite)."""
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-9:
        return np.eye(3) if cos > 0 else pycolmap.Rotation3d(np.pi * half_turn_axis).matrix()
    return pycolmap.Rotation3d(axis / sin * np.arctan2(sin, cos)).matrix()


def _yaw_to_minus_z(rotation: np.ndarray, first_c2w: np.ndarray) -> np.ndarray:
    """Compose a turn about +Y so that the first camera's view points towards -Z."""
    forward = rotation @ first_c2w[:3, 2]
    flat = np.array([forward[0], 0.0, forward[2]])
    if np.linalg.norm(flat) < 1e-6:
        return rotation  # looking straight down or up: any heading will do
    yaw = _rotate_onto(_unit(flat), -_Z, _Y)
    return yaw @ rotation
