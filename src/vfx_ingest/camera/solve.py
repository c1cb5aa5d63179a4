"""The whole solve: features, keyframes, matching, map, registration, orientation.

    extract SIFT on every frame                       (features)
    match consecutive frames                          (matching: N-1 pairs)
    choose keyframes from the tracked features        (keyframes)
    match keyframes: the next ``overlap`` ones plus loop candidates
    map the keyframes (incremental, or global)        (mapping)
    register every other frame, triangulate, refine   (mapping)
    orient: up, origin, scale                         (orient)

What makes it fast is that the expensive parts of a COLMAP run (exhaustive or wide
sequential matching, and incremental mapping with its repeated bundle adjustments) see
only the keyframes; every other frame costs one SIFT extraction, one match with its
neighbour and a pose registration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from ..errors import StageFailed
from . import features, keyframes, loops, mapping, orient
from .matching import Features, match_pairs
from .presets import PRESETS
from .scale import ScaleSpec

log = logging.getLogger(__name__)

MIN_FEATURES = 80  # median SIFT features per frame below this: nothing to solve from
MIN_KEYFRAMES = 3
MIN_REGISTERED_SHARE = 0.5


@dataclass
class SolveRequest:
    image_dir: Path
    names: list[str]  # plate file names, in frame order
    frames: list[int]
    width: int
    height: int
    work: Path
    quality: str = "balanced"
    mapper: mapping.Mapper = "incremental"
    camera_model: str = "SIMPLE_RADIAL"
    focal_px: float | None = None
    refine_focal: bool = False
    up: orient.UpMethod = "auto"
    scale: ScaleSpec | None = None
    mask_dir: Path | None = None


@dataclass
class Solved:
    reconstruction: pycolmap.Reconstruction  # oriented, scaled
    keyframes: list[int]  # frame numbers
    orientation: orient.Orientation
    matched_pairs: int
    timings: dict[str, float] = field(default_factory=dict)


Progress = Callable[[int, int, str], None]
PHASES = ("features", "matching", "mapping", "registration")


class _Phases:
    """The solve's progress as one count that only grows: each phase fills its own part of
    the bar (the frame count, once per phase), and the message says which phase it is."""

    def __init__(self, progress: Progress, frames: int) -> None:
        self.progress, self.frames = progress, frames
        self.total = len(PHASES) * frames

    def __call__(self, phase: str, done: int, message: str) -> None:
        self.progress(PHASES.index(phase) * self.frames + done, self.total, message)

    def finish(self) -> None:
        self.progress(self.total, self.total, "solved")


class CouldNotSolve(StageFailed):
    """The shot gave the solver too little to work with; the message has the numbers."""


def solve(request: SolveRequest, progress: Progress) -> Solved:
    """Solve the shot's camera. Raises CouldNotSolve with the figures when it cannot."""
    preset = PRESETS[request.quality]
    work = request.work
    work.mkdir(parents=True, exist_ok=True)
    database = work / "database.db"
    names, total = request.names, len(request.names)
    phase = _Phases(progress, total)
    timings: dict[str, float] = {}
    intrinsics = mapping.Intrinsics(
        refine_focal=request.focal_px is None or request.refine_focal,
        refine_extra=request.camera_model != "PINHOLE",
    )

    with _timed(timings, "features"):
        camera_id = features.create_camera(
            database, request.camera_model, request.width, request.height, request.focal_px
        )
        features.extract(
            database,
            request.image_dir,
            names,
            camera_id,
            preset,
            mask_dir=request.mask_dir,
            on_progress=lambda done: phase("features", done, f"features {done}/{total}"),
        )
        found = Features(database, names)
    counts = [len(k) for k in found.keypoints]
    if np.median(counts) < MIN_FEATURES:
        raise CouldNotSolve(
            f"could not solve the camera: the frames have too little texture (median "
            f"{int(np.median(counts))} features per frame, at least {MIN_FEATURES} needed)",
            fix="A camera solve needs detail on static surfaces; check the plate is not "
            "blank, out of focus or masked out",
        )

    with _timed(timings, "matching"):
        phase("matching", 0, "matching consecutive frames")
        consecutive = [(names[i], names[i + 1]) for i in range(total - 1)]
        pairs = match_pairs(database, consecutive, work, "consecutive")
        links = found.inlier_matches([(i, i + 1) for i in range(total - 1)])
        chosen = keyframes.choose(
            found.keypoints, [links[(i, i + 1)] for i in range(total - 1)], request.width, preset
        )
        phase("matching", total // 2, f"matching {len(chosen)} keyframes")
        window = _windows([names[i] for i in chosen], preset.overlap)
        loop_pairs = loops.candidates(found.descriptors(chosen), preset.overlap, preset.loops)
        anchor_pairs = anchors(chosen, total, preset.anchors)
        pairs += match_pairs(
            database,
            window + [(names[a], names[b]) for a, b in loop_pairs + anchor_pairs],
            work,
            "keyframes",
        )

    with _timed(timings, "mapping"):
        phase("mapping", 0, f"mapping {len(chosen)} keyframes")
        model = mapping.map_keyframes(
            database, request.image_dir, [names[i] for i in chosen], request.mapper,
            intrinsics, work,
        )  # fmt: skip
        if not _mapped_enough(model, chosen) and len(chosen) < total:
            # Too little parallax between keyframes to start a map: map every frame, matched
            # sequentially, as COLMAP on its own would (slower, but it may find a start).
            log.info("keyframe map failed; mapping every frame")
            chosen = list(range(total))
            phase("mapping", total // 2, f"mapping all {total} frames")
            pairs += match_pairs(database, _windows(names, preset.overlap), work, "all")
            model = mapping.map_keyframes(
                database, request.image_dir, names, request.mapper, intrinsics, work
            )
        mapped = model.num_reg_images() if model is not None else 0
        if model is None or not _mapped_enough(model, chosen):
            median_links = int(np.median([len(links[(i, i + 1)]) for i in range(total - 1)]))
            raise CouldNotSolve(
                f"could not solve the camera: the {request.mapper} mapper registered "
                f"{mapped} of {len(chosen)} keyframes ({total} frames, median "
                f"{int(np.median(counts))} features and {median_links} verified matches "
                f"between consecutive frames, {found.verified_pairs()} verified pairs)",
                fix="A camera solve needs the camera to move through space (a locked-off "
                "or tripod shot has no parallax) and textured, static surfaces",
            )

    with _timed(timings, "registration"):
        model = mapping.register_frames(
            database,
            request.image_dir,
            model,
            names,
            intrinsics,
            preset,
            on_registered=lambda n: phase("registration", n, f"registering {n}/{total}"),
        )
        registered = model.num_reg_images()
        if registered < MIN_REGISTERED_SHARE * total:
            raise CouldNotSolve(
                f"could not solve the camera: only {registered} of {total} frames "
                f"registered ({len(chosen)} keyframes, {mapped} mapped)",
                fix="The shot may cut, or lose all texture or parallax for long stretches; "
                "solve the parts separately with --start/--end",
            )

    with _timed(timings, "orientation"):
        c2w, numbers = registered_cameras(model, names, request.frames)
        points = np.array([p.xyz for p in model.points3D.values()])
        orientation = orient.orient(c2w, numbers, points, request.up, request.scale)
        model.transform(orientation.new_from_old)
    phase.finish()
    return Solved(
        reconstruction=model,
        keyframes=[request.frames[i] for i in chosen],
        orientation=orientation,
        matched_pairs=pairs,
        timings={k: round(v, 2) for k, v in timings.items()},
    )


def _windows(names: list[str], overlap: int) -> list[tuple[str, str]]:
    """Each image with the next ``overlap`` ones."""
    return [
        (names[a], names[b])
        for a in range(len(names))
        for b in range(a + 1, min(len(names), a + 1 + overlap))
    ]


def _mapped_enough(model: pycolmap.Reconstruction | None, chosen: list[int]) -> bool:
    if model is None:
        return False
    return model.num_reg_images() >= max(MIN_KEYFRAMES, MIN_REGISTERED_SHARE * len(chosen))


def anchors(chosen: list[int], total: int, count: int) -> list[tuple[int, int]]:
    """Pairs linking each other frame to its ``count`` nearest keyframes (not neighbours,
    whose match exists already): more of the map's points seen from every frame."""
    keyset = set(chosen)
    pairs = []
    for i in range(total):
        if i in keyset:
            continue
        nearest = sorted(chosen, key=lambda k: (abs(k - i), k))[:count]
        pairs += [(min(i, k), max(i, k)) for k in nearest if abs(k - i) > 1]
    return pairs


def registered_cameras(
    model: pycolmap.Reconstruction, names: list[str], frames: list[int]
) -> tuple[np.ndarray, list[int]]:
    """Camera-to-world (K, 4, 4) of the registered frames, in frame order, and their numbers."""
    frame_of = dict(zip(names, frames, strict=True))
    found = sorted(
        (frame_of[image.name], image) for image in model.images.values() if image.has_pose
    )
    c2w = np.stack([_c2w(image) for _, image in found])
    return c2w, [frame for frame, _ in found]


def rotation_range(model: pycolmap.Reconstruction) -> float:
    """The largest angle (degrees) between any registered camera's orientation and the
    orientations' mean: how much the camera turns over the shot."""
    rotations = [i.cam_from_world().rotation for i in model.images.values() if i.has_pose]
    middle = pycolmap.average_quaternions(rotations, [1.0] * len(rotations))
    return max(float(np.degrees(r.angle_to(middle))) for r in rotations)


def _c2w(image: pycolmap.Image) -> np.ndarray:
    m = np.eye(4)
    m[:3] = image.cam_from_world().inverse().matrix()
    return m


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
