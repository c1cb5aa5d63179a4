"""Plan and run: turn what the user asked for into a job, hand it to a backend.

Everything that can be checked before work starts is checked here (the clip, the stage
names, every parameter, the shot folder), so bad input fails in a second with one line and
nothing written.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from .backends import backend_class, get_backend, with_run_options
from .config import Settings, check_stage_params
from .digest import FileDigest, file_digest
from .errors import BadInput, StageFailed, VfxIngestError
from .job import RAN, Device, Event, Job, JobResult, ModelRef, StageEvent, StageRequest
from .manifest import PriceUsed, SourceFile, SourceProbe
from .shot import ShotFolder
from .stages import REGISTRY, with_dependencies
from .stages.base import Cancelled, PlanView, StageParams, StageSpec
from .worker import EventFn

if TYPE_CHECKING:
    from .cost.meter import CostMeter

log = logging.getLogger(__name__)


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
    check_stage_params(settings, {name: spec.params for name, spec in REGISTRY.items()})
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
    remote = getattr(backend_class(backend), "remote", True)
    if not remote:  # remote workers have their own install; this machine runs the stages
        from .extras import require

        for spec in specs:
            require(spec.extras, f"the {spec.name} stage")
    shot = ShotFolder(request.shot or shot_folder_for(clip, settings))
    source = None
    found = None
    if any("source" in spec.needs for spec in specs):
        found = probe(clip)
        for spec in specs:
            if spec.preflight is not None:
                spec.preflight(params[spec.name], found)
        previous = _known_source(shot, clip)
        source = SourceFile(
            path=str(clip.resolve()), digest=file_digest(clip, previous), probe=found
        )
    _settle(specs, params, shot, found, settings)
    # After settling: the model a stage loads may depend on its settled params (prompts).
    models = _models(specs, params, settings, remote=remote)
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


def _settle(
    specs: list[StageSpec],
    params: dict[str, StageParams],
    shot: ShotFolder,
    found: SourceProbe | None,
    settings: Settings,
) -> None:
    """Let each stage with a ``settle`` hook fix its params against the shot (in place)."""
    from .models.runtime import registry_for

    settling = [spec for spec in specs if spec.settle is not None]
    if not settling:
        return
    manifest = shot.load_manifest()
    registry = registry_for(settings)
    for spec in settling:
        assert spec.settle is not None
        done = manifest.done(spec.name) if manifest is not None else None
        view = PlanView(
            shot_root=shot.root,
            previous=done.params if done is not None else None,
            frames=manifest.frames if manifest is not None else None,
            probe=found,
            params=params,
            model_registry=registry,
        )
        params[spec.name] = spec.settle(params[spec.name], view)


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
    running cost passes the limit; the run then fails with that reason (exit 1), its stage
    recorded as interrupted. An interrupted run is priced too: what ran was billed."""
    from .cost.meter import CostMeter

    cancel = cancel or threading.Event()
    settings = backend_settings(request, settings)
    # The backend checks its configuration before the plan prepares the shot folder.
    backend = get_backend(request.backend or settings.backend, settings)
    job = plan(request, settings)
    meter = CostMeter(request.max_cost, cancel)
    ran: list[str] = []

    def track(event: Event) -> None:
        if isinstance(event, StageEvent) and event.status in RAN:
            ran.append(event.stage)
        on_event(event)

    try:
        result = backend.run(job, track, cancel, meter=meter)
    except (KeyboardInterrupt, Cancelled) as exc:
        stop = _over_budget(meter) if meter.exceeded else None
        try:
            _record_actuals(job, ran, settings, stopped=stop.line() if stop else None)
        except (VfxIngestError, OSError) as error:  # the interruption is what to report
            log.warning("could not price the interrupted run: %s", error)
        if stop is not None:
            raise stop from exc
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
    job: Job, ran: list[str], settings: Settings, stopped: str | None = None
) -> dict[str, tuple[float | None, PriceUsed | None]]:
    """Price the stage records that ran (as shot.json holds them), write the costs back,
    feed the user's history; return each stage's (cost, price). ``stopped``: why the run
    was stopped (a cost limit), the error of the stage it interrupted."""
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
        for record in executed:
            if stopped is not None and record.status == "interrupted":
                record.error = stopped
        shot.save_manifest(manifest)
    remember(
        History(settings.cost.history_db),
        history_rows(executed, manifest, job.job_id, job.shot, catalog),
    )
    return {r.stage: (r.cost_usd, r.price) for r in executed}


def backend_settings(request: RunRequest, settings: Settings) -> Settings:
    """Settings with this run's backend options (``--gpu``...) applied to its backend."""
    return with_run_options(request.backend or settings.backend, settings, request.backend_options)
