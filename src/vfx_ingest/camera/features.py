"""SIFT features for every frame, through pycolmap, into one COLMAP database.

The shot's one camera is written to the database first and every extraction call uses it
(``existing_camera_id``), so the whole clip shares one set of intrinsics however many
calls the extraction is split into. Extraction runs in chunks so that progress and
cancellation are seen between them; frames already in the database (a resumed run) are
not extracted again. Pixels where a mask is black get no features (COLMAP's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pycolmap

from .presets import Preset

CHUNK = 16
DEFAULT_FOCAL_FACTOR = 1.2  # COLMAP's guess without EXIF: focal = 1.2 x the longer side


def sift_device() -> pycolmap.Device:
    """CUDA SIFT when this pycolmap was built with it, else CPU."""
    return pycolmap.Device.cuda if pycolmap.has_cuda else pycolmap.Device.cpu


def create_camera(
    database: Path,
    model: str,
    width: int,
    height: int,
    focal_px: float | None,
) -> int:
    """Write the shot's camera (or find the one a resumed run wrote); return its id."""
    db = pycolmap.Database.open(database)
    try:
        cameras = db.read_all_cameras()
        if cameras:
            return int(cameras[0].camera_id)
        focal = focal_px or DEFAULT_FOCAL_FACTOR * max(width, height)
        camera = pycolmap.Camera.create_from_model_name(1, model, focal, width, height)
        camera.has_prior_focal_length = focal_px is not None
        return int(db.write_camera(camera))
    finally:
        db.close()


def extracted_names(database: Path) -> set[str]:
    db = pycolmap.Database.open(database)
    try:
        return {image.name for image in db.read_all_images()}
    finally:
        db.close()


def extract(
    database: Path,
    image_dir: Path,
    names: list[str],
    camera_id: int,
    preset: Preset,
    *,
    mask_dir: Path | None = None,
    on_progress: Callable[[int], None] = lambda done: None,
) -> None:
    """Extract SIFT features of ``names`` (files in ``image_dir``) into ``database``."""
    reader = pycolmap.ImageReaderOptions()
    reader.existing_camera_id = camera_id
    if mask_dir is not None:
        reader.mask_path = mask_dir
    options = pycolmap.FeatureExtractionOptions()
    options.sift.max_num_features = preset.max_features
    options.sift.first_octave = preset.first_octave
    done = extracted_names(database)
    todo = [name for name in names if name not in done]
    on_progress(len(names) - len(todo))
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        pycolmap.extract_features(
            database,
            image_dir,
            image_names=chunk,
            camera_mode=pycolmap.CameraMode.SINGLE,
            reader_options=reader,
            extraction_options=options,
            device=sift_device(),
        )
        on_progress(len(names) - len(todo) + start + len(chunk))
