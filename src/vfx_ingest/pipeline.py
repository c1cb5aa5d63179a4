"""Plan and run: turn what the user asked for into a job, hand it to a backend.

Everything that can be checked before work starts is checked here (the clip, the stage
names, every parameter, the shot folder), so bad input fails in a second with one line and
nothing written.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .backends import get_backend
from .config import Settings
from .digest import FileDigest, file_digest
from .errors import BadInput
from .job import Device, Job, JobResult, ModelRef, StageRequest
from .manifest import SourceFile
from .shot import ShotFolder
from .stages import with_dependencies
from .stages.base import StageParams, StageSpec
from .worker import EventFn


class RunRequest(BaseModel):
    """What `vfx-ingest run` was asked for, before defaults from the settings apply."""

    clip: Path
    shot: Path | None = None
    stages: list[str] | None = None
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: str | None = None
    device: Device | None = None
    force: bool = False


def shot_folder_for(clip: Path, settings: Settings) -> Path:
    """Default shot folder: ``<shots_dir>/<clip name without extension>``."""
    return settings.shots_dir / clip.stem


def stage_params(spec: StageSpec, settings: Settings, given: dict[str, Any]) -> StageParams:
    """A stage's params: model defaults < settings ``[params.<stage>]`` < command line."""
    merged = {**settings.params.get(spec.name, {}), **given}
    try:
        return spec.params.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or spec.name
        raise BadInput(
            f"invalid {spec.name} option {name}: {first['msg']}",
            fix=f"See `vfx-ingest run --help` ({spec.name} options)",
        ) from exc


def plan(request: RunRequest, settings: Settings) -> Job:
    from .io.probe import probe

    clip = request.clip.expanduser()
    specs = with_dependencies(request.stages or settings.stages)
    unknown = set(request.params) - {s.name for s in specs}
    if unknown:
        raise BadInput(
            f"options were given for {', '.join(sorted(unknown))}, which this run does not include",
            fix="Add the stage to --stages",
        )
    params = {
        spec.name: stage_params(spec, settings, request.params.get(spec.name, {})) for spec in specs
    }
    models = _models(specs, params, settings)
    shot = ShotFolder(request.shot or shot_folder_for(clip, settings))
    source = None
    if any("source" in spec.needs for spec in specs):
        found = probe(clip)
        for spec in specs:
            if spec.preflight is not None:
                spec.preflight(params[spec.name], found)
        previous = _known_source(shot, clip)
        source = SourceFile(
            path=str(clip.resolve()), digest=file_digest(clip, previous), probe=found
        )
    shot.prepare()
    return Job(
        shot=str(shot.root.resolve()),
        source=source,
        stages=[
            StageRequest(name=s.name, params=params[s.name].model_dump(mode="json")) for s in specs
        ],
        models=models,
        device=request.device or settings.device,
        force=request.force,
        backend=request.backend or settings.backend,
    )


def _models(
    specs: list[StageSpec], params: dict[str, StageParams], settings: Settings
) -> list[ModelRef]:
    """Every model the stages load, on this machine and intact (else BadInput, no work)."""
    ids = [m for spec in specs for m in spec.selected_models(params[spec.name])]
    if not ids:
        return []
    from .models.runtime import require

    return require(ids, settings)


def _known_source(shot: ShotFolder, clip: Path) -> FileDigest | None:
    """The digest recorded for this clip, so an unchanged clip is not hashed again."""
    try:
        manifest = shot.load_manifest()
    except BadInput:
        return None
    if manifest and manifest.source and manifest.source.path == str(clip.resolve()):
        return manifest.source.digest
    return None


def run(
    request: RunRequest,
    settings: Settings,
    on_event: EventFn,
    cancel: threading.Event | None = None,
) -> JobResult:
    # The backend checks its configuration before the plan prepares the shot folder.
    backend = get_backend(request.backend or settings.backend, settings)
    job = plan(request, settings)
    return backend.run(job, on_event, cancel or threading.Event())
