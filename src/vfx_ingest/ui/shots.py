"""What the shots and shot pages show, read from a shot folder and its manifest.

Stage states: ``done``, ``failed``, ``running`` as the manifest records them; ``stale``
when a done stage's inputs changed or its outputs no longer verify (the same check as
``vfx-ingest status``); ``cached`` when the UI's last run of the shot found it cached.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..cache import staleness
from ..frames import frame_number
from ..manifest import Manifest, StageRecord
from ..shot import ShotFolder
from ..stages import REGISTRY
from .roots import UI_DIR, ShotRef

# The passes the flipbook shows: folder, file prefix, extensions, and whether the pass has
# one sub-folder per object (roto/<label>/roto.1001.png).
PASSES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "plate": ("plate", ("png", "exr"), False),
    "depth": ("depth", ("exr",), False),
    "roto": ("roto", ("png",), True),
    "matte": ("matte", ("exr",), True),
}


class JobCell(BaseModel):
    """One remote job of a stage run (or one chunk of a fan-out run): the timeline's grid."""

    frames: str = ""
    job: str = ""
    device: str = ""
    wall_s: float | None = None
    resumed: bool = False


class StageRow(BaseModel):
    name: str
    state: str
    record: StageRecord
    note: str = ""
    jobs: list[JobCell] = Field(default_factory=list)


def job_cells(stats: dict[str, Any]) -> list[JobCell]:
    """The remote jobs a record's stats name: ``remote.job`` for one job, ``chunks`` (each
    with its own stats) for a fan-out run (backends/remote and fanout write them)."""
    if chunks := stats.get("chunks"):
        return [
            JobCell(
                frames=str(c.get("frames", "")),
                job=str(c.get("stats", {}).get("remote", {}).get("job", "")),
                device=str(c.get("device") or ""),
                wall_s=c.get("wall_s"),
                resumed=bool(c.get("resumed")),
            )
            for c in chunks
        ]
    remote = stats.get("remote")
    if isinstance(remote, dict) and remote.get("job"):
        return [JobCell(job=str(remote["job"]), device=str(remote.get("device") or ""))]
    return []


class ShotSummary(BaseModel):
    ref: ShotRef
    name: str
    frames: str = ""
    count: int = 0
    fps: float | None = None
    size: str = ""
    has_plate: bool
    stages: list[StageRow]
    backends: list[str]
    cost_usd: float
    wall_s: float


class PassFrames(BaseModel):
    """One flipbook layer: its frames on disk and, for roto and matte, its object label."""

    key: str
    pass_name: str
    label: str | None = None
    frames: list[int]


def stage_rows(
    manifest: Manifest, root: Path, cached: frozenset[str] = frozenset()
) -> list[StageRow]:
    rows = []
    for name, record in manifest.stages.items():
        state, note = record.status, record.error or ""
        spec = REGISTRY.get(name)
        if state == "done" and spec is not None:
            if why := staleness(spec, record, manifest, root):
                state, note = "stale", why
            elif name in cached:
                state = "cached"
        rows.append(
            StageRow(name=name, state=state, record=record, note=note, jobs=job_cells(record.stats))
        )
    return rows


def summary(
    ref: ShotRef, folder: Path, manifest: Manifest, cached: frozenset[str] = frozenset()
) -> ShotSummary:
    rows = stage_rows(manifest, folder, cached)
    frames = manifest.frames
    return ShotSummary(
        ref=ref,
        name=folder.name,
        frames=frames.frame_set if frames else "",
        count=frames.count if frames else 0,
        fps=float(frames.fps) if frames else None,
        size=f"{frames.width}x{frames.height}" if frames else "",
        has_plate=(folder / "plate").is_dir(),
        stages=rows,
        backends=sorted({r.record.backend for r in rows}),
        cost_usd=sum(r.record.cost_usd or 0.0 for r in rows),
        wall_s=sum(r.record.wall_s or 0.0 for r in rows),
    )


def load(folder: Path) -> Manifest | None:
    return ShotFolder(folder).load_manifest()


def pass_frames(folder: Path) -> list[PassFrames]:
    """Every flipbook layer the shot has on disk, with its frame numbers (one listing of
    each pass folder; no file is opened)."""
    keys = []
    for name, (_, _, per_object) in PASSES.items():
        base = folder / name
        if not base.is_dir():
            continue
        if per_object:
            keys += sorted(f"{name}:{e.name}" for e in os.scandir(base) if e.is_dir())
        else:
            keys.append(name)
    layers = [layer(folder, key, frames=True) for key in keys]
    return [found for found in layers if found is not None and found.frames]


def layer(folder: Path, key: str, *, frames: bool = False) -> PassFrames | None:
    """The layer called ``key`` (``depth``, ``roto:person``) if the shot has its folder;
    its frame numbers listed only when asked (a proxy request needs one file, not all)."""
    pass_name, _, label = key.partition(":")
    if pass_name not in PASSES or bool(label) != PASSES[pass_name][2]:
        return None
    if label and (label != Path(label).name or label.startswith(".")):
        return None
    base = folder / pass_name / label
    if not base.is_dir():
        return None
    prefix, exts, _ = PASSES[pass_name]
    numbers = _numbers(base, prefix, exts) if frames else []
    return PassFrames(key=key, pass_name=pass_name, label=label or None, frames=numbers)


def frame_file(folder: Path, layer: PassFrames, number: int) -> Path | None:
    """The file holding frame ``number`` of ``layer``, if there is one."""
    prefix, exts, _ = PASSES[layer.pass_name]
    base = folder / layer.pass_name / (layer.label or "")
    for ext in exts:
        path = base / f"{prefix}.{number:04d}.{ext}"
        if path.is_file():
            return path
    return None


def _numbers(folder: Path, prefix: str, exts: tuple[str, ...]) -> list[int]:
    numbers = []
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(f"{prefix}.") and name.rsplit(".", 1)[-1] in exts:
            number = frame_number(name)
            if number is not None:
                numbers.append(number)
    return sorted(set(numbers))


def exports(folder: Path) -> list[str]:
    """Shot-relative paths of the camera exports a user downloads."""
    camera = folder / "camera"
    if not camera.is_dir():
        return []
    return sorted(f"camera/{e.name}" for e in os.scandir(camera) if e.is_file())


def logs(folder: Path) -> list[str]:
    """Shot-relative paths of the logs of runs started from the UI, newest first."""
    base = folder / UI_DIR / "logs"
    if not base.is_dir():
        return []
    names = sorted((e.name for e in os.scandir(base) if e.name.endswith(".log")), reverse=True)
    return [f"{UI_DIR}/logs/{name}" for name in names]
