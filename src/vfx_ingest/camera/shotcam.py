"""A solved shot's cameras, as every export needs them, read from the COLMAP model.

``camera/sparse/`` holds the solve (already in our oriented world); the shot's manifest
holds what a COLMAP model cannot: the frame numbers and rate, and the solve's record
(sensor width, how up and scale were chosen). From the two, :func:`from_reconstruction`
rebuilds every frame's camera (solved frames from the model, the others interpolated
exactly as the stage did), so an export regenerated later is byte-identical to the one
the stage wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pycolmap

from ..frames import frame_number
from . import interpolate
from .cameras_json import (
    CamerasDoc,
    ImageSize,
    Intrinsics,
    SolveStats,
    World,
    frame_cameras,
)

SPARSE = "sparse"


@dataclass
class ShotCamera:
    frames: list[int]
    plates: list[str]  # shot-relative plate file of each frame
    c2w: np.ndarray  # (N, 4, 4) camera-to-world, OpenCV axes, our world
    solved: list[bool]
    errors: list[float | None]  # mean reprojection error (px) of solved frames
    model: str  # COLMAP camera model
    params: np.ndarray  # COLMAP camera parameters, COLMAP's order
    width: int
    height: int
    fps: Fraction
    stats: SolveStats
    reconstruction: pycolmap.Reconstruction
    depth: list[str] | None = None  # shot-relative depth file of each frame, when present
    roto: list[Path] | None = None  # roto label folders (absolute), when present
    # Path from the folder the exports are written to back to the shot folder ("../" for
    # the shot's own camera/), so the files they name resolve from where they are.
    shot_prefix: str = "../"

    @property
    def camera(self) -> pycolmap.Camera:
        return next(iter(self.reconstruction.cameras.values()))

    @property
    def fx(self) -> float:
        return float(self.camera.focal_length_x)

    @property
    def fy(self) -> float:
        return float(self.camera.focal_length_y)

    @property
    def cx(self) -> float:
        return float(self.camera.principal_point_x)

    @property
    def cy(self) -> float:
        return float(self.camera.principal_point_y)

    @property
    def distortion(self) -> list[float]:
        return [float(self.params[i]) for i in self.camera.extra_params_idxs()]

    @property
    def sensor_width_mm(self) -> float:
        return self.stats.sensor_width_mm

    @property
    def focal_mm(self) -> float:
        return self.fx / self.width * self.sensor_width_mm

    @property
    def sensor_height_mm(self) -> float:
        """The vertical aperture that keeps fy: equals width-scaled height for square pixels."""
        return self.height * self.focal_mm / self.fy

    @property
    def metric(self) -> bool:
        return self.stats.units == "meters"

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The sparse points (N, 3), in point id order, and their 8-bit colours (N, 3)."""
        points = [self.reconstruction.points3D[i] for i in sorted(self.reconstruction.points3D)]
        xyz = np.array([p.xyz for p in points], float).reshape(-1, 3)
        rgb = np.array([p.color for p in points], np.uint8).reshape(-1, 3)
        return xyz, rgb

    def to_doc(self) -> CamerasDoc:
        stats = self.stats
        return CamerasDoc(
            world=World(
                up=[0, 1, 0], units=stats.units, note=f"up: {stats.up}; scale: {stats.scale}"
            ),
            image=ImageSize(width=self.width, height=self.height),
            fps=float(self.fps),
            intrinsics=Intrinsics(
                model=self.model,  # type: ignore[arg-type]
                fx=self.fx,
                fy=self.fy,
                cx=self.cx,
                cy=self.cy,
                distortion=self.distortion,
                focal_mm=self.focal_mm,
                sensor_width_mm=self.sensor_width_mm,
                sensor_height_mm=self.sensor_height_mm,
            ),
            frames=frame_cameras(self.frames, self.c2w, self.solved, self.errors),
            solve=stats,
        )


def from_reconstruction(
    reconstruction: pycolmap.Reconstruction,
    frames: list[int],
    plates: list[str],
    fps: Fraction,
    stats: SolveStats,
    *,
    depth: list[str] | None = None,
    roto: list[Path] | None = None,
) -> ShotCamera:
    """Every frame's camera: solved ones from the model, the rest interpolated."""
    posed = [image for image in reconstruction.images.values() if image.has_pose]
    by_frame = {frame_number(image.name): image for image in posed}
    poses: list[np.ndarray | None] = []
    errors: list[float | None] = []
    for frame in frames:
        image = by_frame.get(frame)
        if image is None:
            poses.append(None)
            errors.append(None)
            continue
        m = np.eye(4)
        m[:3] = image.cam_from_world().inverse().matrix()
        poses.append(m)
        errors.append(round(reprojection_error(reconstruction, image), 4))
    c2w, solved = interpolate.fill(poses)
    camera = next(iter(reconstruction.cameras.values()))
    return ShotCamera(
        frames=frames,
        plates=plates,
        c2w=c2w,
        solved=solved,
        errors=errors,
        model=camera.model.name,
        params=np.asarray(camera.params, float),
        width=int(camera.width),
        height=int(camera.height),
        fps=fps,
        stats=stats,
        reconstruction=reconstruction,
        depth=depth,
        roto=roto,
    )


def reprojection_error(reconstruction: pycolmap.Reconstruction, image: pycolmap.Image) -> float:
    """Mean distance (px) between an image's observations and its 3D points' projections."""
    observed = image.get_observation_points2D()
    if not len(observed):
        return 0.0
    xy = np.array([p.xy for p in observed])
    xyz = np.array([reconstruction.points3D[p.point3D_id].xyz for p in observed])
    pose = image.cam_from_world()
    cam = xyz @ pose.rotation.matrix().T + pose.translation
    projected = image.camera.img_from_cam(cam, check_cheirality=False)
    return float(np.mean(np.linalg.norm(projected - xy, axis=1)))
