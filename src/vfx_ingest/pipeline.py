"""Plan and run: turn what the user asked for into a job, hand it to a backend.

Everything that can be checked before work starts is checked here (the clip, the stage
names, every parameter, the shot folder), so bad input fails in a second with one line and
nothing written.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from .backends import backend_class, get_backend, with_run_options
from .config import Settings
from .digest import FileDigest, file_digest
from .errors import BadInput, StageFailed
from .job import Device, Event, Job, JobResult, ModelRef, StageEvent, StageRequest
from .manifest import PriceUsed, SourceFile
from .shot import ShotFolder
from .stages import with_dependencies
from .stages.base import Cancelled, StageParams, StageSpec
from .worker import EventFn

if TYPE_CHECKING:
    from .cost.meter import CostMeter


class RunRequest(BaseModel):
    """What `vfx-ingest run` was asked for, before defaults from the settings apply."""

    clip: Path
    shot: Path | None = None
    stages: list[str] | None = None
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: str | None = None
    device: Device | None = None
    force: bool = False
    max_cost: float | None = Field(
        None, ge=0, description="USD: refuse when the estimate is over, stop when spent."
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict,
        description="The backend's run options given (``--gpu``...): field -> value.",
    )


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
    backend = request.backend or settings.backend
    models = _models(
        specs, params, settings, remote=getattr(backend_class(backend), "remote", True)
    )
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
    job = Job(
        shot=str(shot.root.resolve()),
        source=source,
        stages=[
            StageRequest(name=s.name, params=params[s.name].model_dump(mode="json")) for s in specs
        ],
        models=models,
        device=request.device or settings.device,
        force=request.force,
        backend=backend,
    )
    if request.max_cost is not None:
        from .cost.budget import check_budget

        check_budget(job, request.max_cost, settings)
    shot.prepare()
    return job


def _models(
    specs: list[StageSpec], params: dict[str, StageParams], settings: Settings, *, remote: bool
) -> list[ModelRef]:
    """Every model the stages load: on this machine and intact for a local run (else
    BadInput, no work); named by digest for a remote one, whose workers hold the weights."""
    ids = [m for spec in specs for m in spec.selected_models(params[spec.name])]
    if not ids:
        return []
    from .models.runtime import reference, registry_for, require

    registry = registry_for(settings)
    for spec in specs:
        if spec.model_check is not None:
            for model_id in spec.selected_models(params[spec.name]):
                spec.model_check(registry.get(model_id))
    return reference(ids, settings) if remote else require(ids, settings)


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
    """Plan, run on the backend, then price what ran and remember it (cost/actuals.py).

    With ``max_cost``, the backend gets a CostMeter that cancels remote work once the
    running cost passes the limit; the run then fails with that reason (exit 1)."""
    from .cost.meter import CostMeter

    cancel = cancel or threading.Event()
    settings = backend_settings(request, settings)
    # The backend checks its configuration before the plan prepares the shot folder.
    backend = get_backend(request.backend or settings.backend, settings)
    job = plan(request, settings)
    meter = CostMeter(request.max_cost, cancel)
    ran: list[str] = []

    def track(event: Event) -> None:
        if isinstance(event, StageEvent) and event.status in ("done", "failed"):
            ran.append(event.stage)
        on_event(event)

    try:
        result = backend.run(job, track, cancel, meter=meter)
    except Cancelled as exc:
        if meter.exceeded:
            _record_actuals(job, ran, settings)
            raise _over_budget(meter) from exc
        raise
    priced = _record_actuals(job, ran, settings)
    for record in result.records:
        if record.stage in priced:
            record.cost_usd, record.price = priced[record.stage]
    if meter.exceeded:
        raise _over_budget(meter)
    return result


def _over_budget(meter: CostMeter) -> StageFailed:
    return StageFailed(
        f"stopped: the running cost ${meter.spent_usd:.2f} passed --max-cost "
        f"${meter.limit_usd:.2f}; remote work was cancelled",
        fix="Rerun with a higher --max-cost to resume where it stopped",
    )


def _record_actuals(
    job: Job, ran: list[str], settings: Settings
) -> dict[str, tuple[float | None, PriceUsed | None]]:
    """Price the stage records that ran (as shot.json holds them), write the costs back,
    feed the user's history; return each stage's (cost, price)."""
    from .cost.actuals import history_rows, price_records, remember
    from .cost.catalog import load_catalog
    from .cost.history import History

    if not ran:
        return {}
    catalog = load_catalog()
    shot = ShotFolder(Path(job.shot))
    with shot.lock():
        manifest = shot.load_manifest()
        if manifest is None:
            return {}
        executed = [manifest.stages[name] for name in ran if name in manifest.stages]
        price_records(executed, catalog, settings)
        shot.save_manifest(manifest)
    remember(
        History(settings.cost.history_db),
        history_rows(executed, manifest, job.job_id, job.shot, catalog),
    )
    return {r.stage: (r.cost_usd, r.price) for r in executed}


def backend_settings(request: RunRequest, settings: Settings) -> Settings:
    """Settings with this run's backend options (``--gpu``...) applied to its backend."""
    return with_run_options(request.backend or settings.backend, settings, request.backend_options)
