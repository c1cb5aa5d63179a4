"""Render a whole synthetic clip: scene + camera path -> frames -> mp4 + ground truth."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from .camera import Intrinsics, PathKind, camera_path
from .encode import encode_mp4, fps_fraction
from .groundtruth import GroundTruth
from .look import apply_look
from .render import render_view
from .scene import Scene, courtyard


def default_texel_m(intr: Intrinsics) -> float:
    """Texture resolution that keeps surfaces a few metres away near one texel per pixel."""
    return float(np.clip(5.0 / intr.fx, 0.006, 0.05))


def clip_scene(intr: Intrinsics, seed: int = 0, texel_m: float | None = None) -> Scene:
    """The (cached) scene `render_clip` uses for these intrinsics and seed."""
    return courtyard(seed, round(texel_m or default_texel_m(intr), 4))


def render_frames(
    scene: Scene,
    poses: np.ndarray,
    intr: Intrinsics,
    *,
    supersample: int = 2,
    seed: int = 0,
    noise: float = 1.0,
    exposure: float = 0.8,
    workers: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rgb uint8 (H, W, 3), depth float32 (H, W)) for each pose, in order.

    Frames render on a small thread pool (numpy drops the GIL inside its array loops). Sensor
    noise is seeded per (seed, frame index), so output never depends on scheduling.
    """

    def one(i: int) -> tuple[np.ndarray, np.ndarray]:
        radiance, depth = render_view(scene, poses[i], intr, supersample)
        rng = np.random.default_rng([seed, 11, i])
        rgb = apply_look(radiance, rng, exposure=exposure, noise=noise)
        return rgb, depth

    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, range(len(poses)))


def render_clip(
    out_path: str | Path,
    *,
    path: PathKind | str | np.ndarray = "orbit",
    frames: int = 96,
    width: int = 640,
    height: int = 360,
    fps: float | Fraction = 24,
    seed: int = 0,
    focal_mm: float = 28.0,
    sensor_width_mm: float = 36.0,
    supersample: int = 2,
    crf: float = 20,
    preset: str = "medium",
    noise: float = 1.0,
    texel_m: float | None = None,
    rotation: int | None = None,
    timecode: str | None = None,
    camera_json: str | Path | None = None,
    keep_depth: bool = False,
) -> GroundTruth:
    """Render the courtyard along a camera path and encode it as H.264 mp4.

    `path` is one of "orbit", "dolly", "handheld", "static", or explicit camera-to-world poses
    (N, 4, 4) in the OpenCV convention. The same `seed` drives the set layout, the path and the
    sensor noise, so a call is fully reproducible. The returned ground truth describes the
    encoded raster (a display `rotation` is only metadata); with `keep_depth` it also carries
    each frame's depth map. `camera_json`, if given, receives the ground truth as JSON.
    """
    intr = Intrinsics.from_focal(width, height, focal_mm, sensor_width_mm)
    scene = clip_scene(intr, seed, texel_m)
    rate = fps_fraction(fps)
    if isinstance(path, np.ndarray):
        poses = np.asarray(path, float)
    else:
        poses = camera_path(
            path, frames, float(rate), target=scene.target, radius=scene.orbit_radius,
            eye_height=scene.eye_height, seed=seed,
        )  # fmt: skip
    depths: list[np.ndarray] = []

    def rgb_only() -> Iterator[np.ndarray]:
        for rgb, depth in render_frames(
            scene, poses, intr, supersample=supersample, seed=seed, noise=noise
        ):
            if keep_depth:
                depths.append(depth)
            yield rgb

    encode_mp4(
        rgb_only(), out_path, fps=rate, crf=crf, preset=preset, rotation=rotation,
        timecode=timecode,
    )  # fmt: skip
    gt = GroundTruth(intrinsics=intr, fps=float(rate), c2w=poses)
    if keep_depth:
        gt.depth = np.stack(depths)
    if camera_json is not None:
        gt.save(camera_json)
    return gt
