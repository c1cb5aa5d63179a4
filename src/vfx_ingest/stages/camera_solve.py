"""The camera stage's work: solve the shot, write ``camera/`` (model and every export).

Kept out of ``stages/camera.py`` so that the stage registry imports no pycolmap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import pycolmap

from ..camera import inputs, shotcam
from ..camera.cameras_json import SolveStats
from ..camera.exports import render_all
from ..camera.scale import parse_scale
from ..camera.solve import Solved, SolveRequest, solve
from ..errors import BadInput
from ..manifest import FrameMap
from .base import StageContext, StageResult
from .camera_params import DEFAULT_SENSOR_MM, CameraParams

PASS = "camera"
MIN_TURN_DEG = 6.0  # turning less than this (from the mean view) leaves the focal length loose


def run_stage(ctx: StageContext, params: CameraParams) -> StageResult:
    if ctx.frames is None:
        raise BadInput("the camera stage needs the plate's frames", fix="Run ingest first")
    numbers = ctx.frames.numbers()
    plates = plate_files(ctx.input_dir("plate"), numbers)
    work = ctx.staging / "work"
    width, height = ctx.frames.width, ctx.frames.height
    labels = inputs.roto_labels(ctx.input_dir("roto")) if ctx.has_input("roto") else []
    image_dir, names = inputs.image_folder(plates, work, ctx.check_cancelled)
    mask_dir = inputs.mask_folder(labels, numbers, names, (width, height), work) if labels else None
    sensor = params.sensor_mm or DEFAULT_SENSOR_MM
    request = SolveRequest(
        image_dir=image_dir,
        names=names,
        frames=numbers,
        width=width,
        height=height,
        work=work,
        quality=params.quality,
        mapper=params.mapper,
        camera_model=params.camera_model,
        focal_px=params.focal_mm / sensor * width if params.focal_mm else None,
        refine_focal=params.refine_focal,
        up=params.up,
        scale=parse_scale(params.scale) if params.scale else None,
        mask_dir=mask_dir,
    )
    with quiet_colmap():
        solved = solve(request, ctx.progress)
        sparse = ctx.output_dir(PASS) / shotcam.SPARSE
        sparse.mkdir(parents=True, exist_ok=True)
        solved.reconstruction.write_binary(sparse)
        solved.reconstruction.write_text(sparse)
        stats = solve_stats(solved, params, names, numbers, sensor)
        camera = shot_camera(ctx.shot_root, sparse, ctx.frames, stats, labels)
        for rel, data in render_all(camera).items():
            ctx.write_bytes(PASS, rel, data)
    # The frames the cameras cover: the plate's (the manifest's frame map stays as it is).
    return StageResult(frames=ctx.frames, stats=stats.model_dump(mode="json"))


def plate_files(plate_dir: Path, numbers: list[int]) -> list[Path]:
    """Each frame's plate file (``plate.1001.png`` or ``.exr``)."""
    from ..frames import frame_path

    found: list[Path] = []
    for number in numbers:
        for ext in ("png", "exr"):
            path = plate_dir / frame_path("plate", number, ext)
            if path.is_file():
                found.append(path)
                break
        else:
            raise BadInput(
                f"plate frame {number} is missing",
                where=str(plate_dir),
                fix="Run ingest again (vfx-ingest run CLIP --stages ingest --force)",
            )
    return found


def shot_camera(
    shot_root: Path,
    sparse: Path,
    frames: FrameMap,
    stats: SolveStats,
    roto: list[Path],
) -> shotcam.ShotCamera:
    """The shot's cameras from its ``sparse/`` model: what every export renders from."""
    from ..frames import frame_path

    numbers = frames.numbers()
    plates = plate_files(shot_root / "plate", numbers)
    depth = [frame_path("depth", n, "exr") for n in numbers]
    has_depth = _holds_metric_depth([shot_root / "depth" / name for name in depth])
    return shotcam.from_reconstruction(
        read_binary(sparse),
        numbers,
        [f"plate/{p.name}" for p in plates],
        Fraction(frames.fps),
        stats,
        depth=[f"depth/{name}" for name in depth] if has_depth else None,
        roto=roto or None,
    )


def _holds_metric_depth(files: list[Path]) -> bool:
    """True when every frame has a depth file and the pass holds metric depth.

    nerfstudio reads ``depth_file_path`` as depth; the relative models write disparity
    (larger is nearer, no unit), which must never be handed over as depth.
    """
    if not files or not all(path.is_file() for path in files):
        return False
    from ..depth.exr import VALUES_ATTR
    from ..depth.models import METRIC
    from ..io.images import read_exr_header

    return read_exr_header(files[0]).get(VALUES_ATTR) == METRIC


def read_binary(folder: Path) -> pycolmap.Reconstruction:
    reconstruction = pycolmap.Reconstruction()
    reconstruction.read_binary(folder)
    return reconstruction


def solve_stats(
    solved: Solved, params: CameraParams, names: list[str], numbers: list[int], sensor: float
) -> SolveStats:
    model = solved.reconstruction
    registered = {image.name for image in model.images.values() if image.has_pose}
    interpolated = [n for name, n in zip(names, numbers, strict=True) if name not in registered]
    focal = "prior" if params.refine_focal else "fixed"
    return SolveStats(
        frames=len(numbers),
        registered=len(registered),
        interpolated=interpolated,
        keyframes=len(solved.keyframes),
        points=model.num_points3D(),
        mean_reprojection_error=round(model.compute_mean_reprojection_error(), 4),
        matched_pairs=solved.matched_pairs,
        mapper=params.mapper,
        quality=params.quality,
        camera_model=params.camera_model,
        focal="estimated" if params.focal_mm is None else focal,
        up=solved.orientation.up,
        scale=solved.orientation.scale,
        units="meters" if solved.orientation.metric else "solver units",
        sensor_width_mm=sensor,
        sensor=f"--sensor-mm {sensor:g}"
        if params.sensor_mm
        else f"default {DEFAULT_SENSOR_MM:g} mm full-frame width (no --sensor-mm given)",
        sift="cuda" if pycolmap.has_cuda else "cpu",
        warnings=warnings(solved, params, interpolated),
        timings_s=solved.timings,
    )


def warnings(solved: Solved, params: CameraParams, interpolated: list[int]) -> list[str]:
    """What a matchmover should look at before trusting the solve."""
    from ..camera.solve import rotation_range
    from ..frames import frame_set

    found = []
    turn = rotation_range(solved.reconstruction)
    if params.focal_mm is None and turn < MIN_TURN_DEG:
        found.append(
            f"the camera turns only {turn:.1f} deg over the shot, so its focal length is "
            "barely determined by the images; give --focal-mm if the lens is known"
        )
    if interpolated:
        count = f"{len(interpolated)} frame{'s' if len(interpolated) > 1 else ''}"
        found.append(
            f"{count} ({frame_set(interpolated)}) could not be registered; "
            "cameras interpolated from the solved neighbours"
        )
    return found


@contextmanager
def quiet_colmap() -> Iterator[None]:
    """COLMAP logs every step to stderr; a CLI keeps stderr for people (errors, progress)."""
    before = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = int(pycolmap.logging.ERROR)
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = before
