"""Pinhole intrinsics and camera paths.

Conventions (the same ones `cameras.json` uses):

* Camera axes are OpenCV's: x right, y down, z forward. A pose is a 4x4 camera-to-world
  matrix `c2w`; its rotation columns are the camera axes in world coordinates and its last
  column is the camera centre.
* World is right-handed, +Y up, metres, ground at y = 0.
* Pixel coordinates are continuous with the COLMAP convention: pixel (u, v) covers
  [u, u+1) x [v, v+1) and its centre is (u + 0.5, v + 0.5). A centred principal point is
  therefore cx = width / 2, cy = height / 2, and a camera-space point (X, Y, Z) lands at
  (fx * X / Z + cx, fy * Y / Z + cy).

Every moving path translates the camera (parallax a solver can triangulate from); `static`
is a tripod lock-off for failure tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vfx_ingest.camera.axes import rotation_zxy

Array = np.ndarray
PathKind = Literal["orbit", "dolly", "handheld", "static"]
PATH_KINDS: tuple[str, ...] = ("orbit", "dolly", "handheld", "static")


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    focal_mm: float
    sensor_width_mm: float
    sensor_height_mm: float

    @classmethod
    def from_focal(
        cls, width: int, height: int, focal_mm: float, sensor_width_mm: float = 36.0
    ) -> Intrinsics:
        """Square pixels and a centred principal point; the sensor height follows the aspect."""
        f = focal_mm / sensor_width_mm * width
        sensor_h = sensor_width_mm * height / width
        cx, cy = width / 2.0, height / 2.0
        return cls(width, height, f, f, cx, cy, focal_mm, sensor_width_mm, sensor_h)

    @property
    def K(self) -> Array:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_world: Array, c2w: Array) -> tuple[Array, Array]:
        """Pixel coordinates (N, 2) and camera-space depth z (N,) of world points (N, 3)."""
        cam = (np.asarray(points_world, float) - c2w[:3, 3]) @ c2w[:3, :3]
        z = cam[:, 2]
        uv = np.stack([self.fx * cam[:, 0] / z + self.cx, self.fy * cam[:, 1] / z + self.cy], -1)
        return uv, z


def look_at(eye: Array, target: Array, up: Array = (0.0, 1.0, 0.0)) -> Array:
    """OpenCV camera-to-world pose at `eye` looking at `target`, with no roll w.r.t. `up`."""
    eye, target, up = (np.asarray(a, float) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)  # right = forward x up, so y = z x x points down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, y, z], axis=1)
    c2w[:3, 3] = eye
    return c2w


def smooth_noise(t: Array, rng: np.random.Generator, freqs: tuple[float, ...]) -> Array:
    """Band-limited 1-D noise in about [-1, 1]: sinusoids at jittered frequencies (Hz) and
    random phases, amplitudes falling with frequency, like hand shake."""
    out = np.zeros_like(t, dtype=float)
    total = 0.0
    for f in freqs:
        amp = 1.0 / np.sqrt(f)
        out += amp * np.sin(2 * np.pi * f * rng.uniform(0.8, 1.25) * t + rng.uniform(0, 2 * np.pi))
        total += amp
    return out / total * np.sqrt(2.0)


def _ease(p: Array) -> Array:
    # Mostly constant speed with softened start and stop, like an operator's move.
    return 0.8 * p + 0.2 * (0.5 - 0.5 * np.cos(np.pi * p))


def camera_path(
    kind: PathKind | str,
    frames: int,
    fps: float,
    *,
    target: Array = (0.0, 0.8, 0.0),
    radius: float = 5.6,
    eye_height: float = 1.65,
    seed: int = 0,
) -> Array:
    """Camera-to-world poses (frames, 4, 4) for one of `PATH_KINDS`.

    Moves run at real-world speeds, so a longer clip travels further: orbit ~11 deg/s,
    dolly ~0.5 m/s, handheld a ~0.7 m/s walk. Very short clips still get a minimum move.
    """
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown path {kind!r}; expected one of {PATH_KINDS}")
    if frames < 1:
        raise ValueError("frames must be >= 1")
    target = np.asarray(target, float)
    rng = np.random.default_rng([seed, 7])
    t = np.arange(frames) / float(fps)
    duration = frames / float(fps)
    p = _ease(np.linspace(0.0, 1.0, frames)) if frames > 1 else np.zeros(1)
    start = rng.uniform(0.0, 2 * np.pi)

    if kind == "static":
        eye = target + np.array(
            [radius * np.sin(start), eye_height - target[1], radius * np.cos(start)]
        )
        return np.repeat(look_at(eye, target)[None], frames, axis=0)

    if kind == "orbit":
        arc = np.radians(max(11.0 * duration, 8.0))
        ang = start + arc * p
        eyes = np.stack(
            [radius * np.sin(ang), np.full(frames, eye_height), radius * np.cos(ang)], -1
        )
        eyes[:, 1] += 0.25 * np.sin(np.pi * p)  # a gentle crane up and down during the arc
        eyes[:, [0, 2]] += target[[0, 2]]
        return np.stack([look_at(e, target) for e in eyes])

    if kind == "dolly":
        # Track forward and sideways from the outer edge of the free ring; heading stays fixed.
        eye0 = np.array([radius * 1.08 * np.sin(start), eye_height, radius * 1.08 * np.cos(start)])
        fwd = target - eye0
        fwd[1] = 0.0
        fwd /= np.linalg.norm(fwd)
        side = np.cross(fwd, [0.0, 1.0, 0.0])
        dist = max(0.5 * duration, 0.5)
        move = (0.8 * fwd + 0.6 * side) * dist
        pose0 = look_at(eye0, target + 0.6 * side * dist)
        poses = np.repeat(pose0[None], frames, axis=0)
        poses[:, :3, 3] = eye0 + p[:, None] * move
        return poses

    # handheld: walk along the ring while framing the set, with body bob and hand shake.
    walk = max(0.7 * duration, 0.6)
    ang = start + (walk / radius) * np.linspace(0.0, 1.0, frames)
    r = radius - 0.4 * np.linspace(0.0, 1.0, frames)  # drifting slightly towards the set
    eyes = np.stack([r * np.sin(ang), np.full(frames, eye_height), r * np.cos(ang)], -1)
    eyes[:, [0, 2]] += target[[0, 2]]
    step_hz = 1.8
    bob = 0.012 * np.abs(np.sin(np.pi * step_hz * t + rng.uniform(0, np.pi)))
    shake = np.stack([smooth_noise(t, rng, (0.4, 0.9, 1.7, 3.1)) for _ in range(3)], -1)
    eyes = eyes + 0.015 * shake + bob[:, None] * [0.0, 1.0, 0.0]
    aim = target + np.stack([smooth_noise(t, rng, (0.15, 0.35)) for _ in range(3)], -1) * [
        0.35,
        0.15,
        0.35,
    ]
    wobble = np.stack([smooth_noise(t, rng, (0.5, 1.1, 2.3, 4.0)) for _ in range(3)], -1)
    wobble *= np.radians([0.45, 0.45, 0.6])  # pitch, yaw, roll amplitudes
    poses = []
    for e, a, (pt, yw, rl) in zip(eyes, aim, wobble, strict=True):
        c2w = look_at(e, a)
        # Camera-local shake: pitch about x, yaw about y (down), roll about z (forward).
        c2w[:3, :3] = c2w[:3, :3] @ rotation_zxy(*np.degrees([pt, yw, rl]))
        poses.append(c2w)
    return np.stack(poses)
