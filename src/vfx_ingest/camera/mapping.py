"""Build the map from the keyframes, then register every other frame against it.

1. ``map_keyframes``: pycolmap's incremental mapper (or its global mapper) on the
   keyframes only: a few dozen images instead of every frame, which is where the time of
   a per-frame COLMAP run goes.
2. ``register_frames``: pycolmap's ``IncrementalMapper`` continues from that map over a
   database cache holding every frame, and registers the remaining frames best-first with
   ``register_next_image`` (absolute pose from 2D-3D correspondences, then refinement),
   triangulating new points from each; their consecutive-frame matches chain them to the
   keyframes. Then one global bundle adjustment with a robust (Cauchy) loss refines all
   cameras, points and the shared intrinsics together, and points it leaves with large
   errors are filtered. The robust loss matters: with a squared loss the few bad matches
   of the newly registered frames pull the solution, and only repeated rounds of
   adjust-filter-readjust (three times the time) get as close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pycolmap

from .presets import Preset

Mapper = Literal["incremental", "global"]
SEED = 0  # RANSAC and the mappers are seeded: the same shot gives the same solve
MIN_MATCHES = 15


@dataclass(frozen=True)
class Intrinsics:
    """What may be refined: a focal length given by the user is held or used as a prior."""

    refine_focal: bool
    refine_extra: bool


def incremental_options(
    names: list[str], intrinsics: Intrinsics
) -> pycolmap.IncrementalPipelineOptions:
    options = pycolmap.IncrementalPipelineOptions()
    options.image_names = names
    options.min_num_matches = MIN_MATCHES
    options.random_seed = SEED
    options.extract_colors = True
    options.ba_refine_focal_length = intrinsics.refine_focal
    options.ba_refine_extra_params = intrinsics.refine_extra
    options.mapper.abs_pose_refine_focal_length = intrinsics.refine_focal
    options.mapper.abs_pose_refine_extra_params = intrinsics.refine_extra
    return options


def map_keyframes(
    database: Path,
    image_dir: Path,
    names: list[str],
    mapper: Mapper,
    intrinsics: Intrinsics,
    work: Path,
) -> pycolmap.Reconstruction | None:
    """The largest model pycolmap builds from the keyframes ``names``, or None."""
    pycolmap.set_random_seed(SEED)
    out = work / f"map-{mapper}"
    out.mkdir(parents=True, exist_ok=True)
    if mapper == "global":
        options = pycolmap.GlobalPipelineOptions()
        options.image_names = names
        options.min_num_matches = MIN_MATCHES
        options.random_seed = SEED
        options.mapper.bundle_adjustment.refine_focal_length = intrinsics.refine_focal
        options.mapper.bundle_adjustment.refine_extra_params = intrinsics.refine_extra
        models = pycolmap.global_mapping(database, image_dir, out, options)
    else:
        models = pycolmap.incremental_mapping(
            database, image_dir, out, incremental_options(names, intrinsics)
        )
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def register_frames(
    database: Path,
    image_dir: Path,
    reconstruction: pycolmap.Reconstruction,
    names: list[str],
    intrinsics: Intrinsics,
    preset: Preset,
    on_registered: Callable[[int], None] = lambda count: None,
) -> pycolmap.Reconstruction:
    """Register every frame the map lacks, triangulate from them, refine everything."""
    options = incremental_options(names, intrinsics)
    mapper_options = options.get_mapper()
    triangulation = options.get_triangulation()
    db = pycolmap.Database.open(database)
    try:
        cache_options = pycolmap.DatabaseCacheOptions()
        cache_options.min_num_matches = MIN_MATCHES
        cache = pycolmap.DatabaseCache.create(db, cache_options)
    finally:
        db.close()
    mapper = pycolmap.IncrementalMapper(cache)
    mapper.begin_reconstruction(reconstruction)
    while True:
        registered = False
        for image_id in mapper.find_next_images(mapper_options, False):
            if mapper.register_next_image(mapper_options, image_id):
                mapper.triangulate_image(triangulation, image_id)
                registered = True
                on_registered(reconstruction.num_reg_images())
                break
        if not registered:
            break
    ba = options.get_global_bundle_adjustment()
    ba.print_summary = False
    ba.ceres.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    ba.ceres.solver_options.max_num_iterations = preset.ba_iterations
    mapper.adjust_global_bundle(mapper_options, ba)
    mapper.filter_points(mapper_options)
    mapper.end_reconstruction(False)
    reconstruction.extract_colors_for_all_images(image_dir)
    return reconstruction
