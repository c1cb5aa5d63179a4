"""``vfx-ingest export camera``: regenerate camera exports from a shot's
``camera/sparse/`` model, without solving.

Writing into the shot's own ``camera/`` folder also updates the camera record's output
digests in ``shot.json``, so the pass stays verified (``vfx-ingest status`` shows it done,
not stale) after, say, a depth pass appears and ``transforms.json`` is refreshed to list it.
"""

from __future__ import annotations

from pathlib import Path

from .. import atomic
from ..camera import inputs
from ..camera.cameras_json import SolveStats
from ..camera.exports import FORMATS
from ..camera.shotcam import SPARSE, ShotCamera
from ..digest import file_digest, tree_digest
from ..errors import BadInput
from ..manifest import Manifest, StageRecord
from ..shot import ShotFolder
from .camera_solve import PASS, quiet_colmap, shot_camera


def load(shot: ShotFolder) -> tuple[Manifest, StageRecord, ShotCamera]:
    """The shot's manifest, camera record and cameras; BadInput when it has no solve."""
    manifest = shot.load_manifest()
    if manifest is None:
        raise BadInput(
            "not a shot folder (no shot.json)",
            where=str(shot.root),
            fix="Give a folder made by `vfx-ingest run`",
        )
    record = manifest.done(PASS)
    sparse = shot.pass_dir(PASS) / SPARSE
    if record is None or manifest.frames is None:
        raise BadInput(
            "the shot has no camera solve",
            where=str(shot.root),
            fix="Solve it first: vfx-ingest run CLIP --shot SHOT --stages camera",
        )
    if not (sparse / "cameras.bin").is_file():
        raise BadInput(
            "the camera solve's model is missing (camera/sparse/cameras.bin)",
            where=str(sparse),
            fix="Solve again: vfx-ingest run CLIP --shot SHOT --stages camera --force",
        )
    labels = inputs.roto_labels(shot.pass_dir("roto")) if "roto" in record.inputs else []
    stats = SolveStats.model_validate(record.stats)
    with quiet_colmap():
        camera = shot_camera(shot.root, sparse, manifest.frames, stats, labels)
    return manifest, record, camera


def render(shot_root: Path, fmt: str) -> dict[str, bytes]:
    """The files of one format, by path relative to ``camera/``."""
    _, _, camera = load(ShotFolder(shot_root))
    return FORMATS[fmt].render(camera)


def export(shot_root: Path, formats: list[str], out: Path | None = None) -> list[Path]:
    """Write ``formats`` into ``out`` (default: the shot's ``camera/``); return the files."""
    shot = ShotFolder(shot_root)
    with shot.lock():
        manifest, record, camera = load(shot)
        target = out or shot.pass_dir(PASS)
        written: list[Path] = []
        for fmt in formats:
            for rel, data in FORMATS[fmt].render(camera).items():
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_bytes(path, data)
                written.append(path)
        if out is None:
            for path in written:
                rel = f"{PASS}/{path.relative_to(target).as_posix()}"
                record.outputs[rel] = file_digest(path)
            record.output_digest = tree_digest(record.outputs)
            shot.save_manifest(manifest)
    return written
