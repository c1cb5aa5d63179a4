"""Execute a job on a shot folder here: the one path every backend ends in.

The local backend calls :func:`vfx_ingest.worker.execute` in-process; remote workers
(RunPod, Modal) call it on a scratch copy of the shot built from the job's objects
(``job.remote``). It validates the job, skips stages whose cache key matches and whose
outputs verify, runs the others with outputs staged and moved into place only when
complete, and keeps ``shot.json`` current after every step.

How a stage's work gets done is the runner's business: :class:`LocalRunner` runs the
stage's code here; a remote backend passes a runner that sends the stage to a worker and
downloads its outputs into the staging folder. Either way the cache decision, staging,
swap and records are this module's, so a fully cached run never starts a remote GPU.

A chunk request (``StageRequest.frames``) runs the stage over one frame range and returns
a :class:`ChunkResult`: its files stay staged and no stage record is written, since a chunk
is never the whole stage.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from .. import atomic, cache, devices, redact
from ..digest import FileDigest, file_digest, tree_digest
from ..errors import BadInput, StageFailed, VfxIngestError
from ..job import ChunkResult, EventFn, Job, JobResult, ProgressEvent, StageEvent
from ..manifest import Manifest, StageRecord, utcnow
from ..models.registry import Registry
from ..models.runtime import ModelSettings, registry_for, resolve
from ..shot import ShotFolder
from ..stages import get_stage
from ..stages.base import Cancelled, StageContext, StageParams, StageResult, StageSpec

log = logging.getLogger(__name__)


@dataclass
class Ran:
    """What running a stage gave: its result and, when the runner knows better than this
    process, the device that ran it (a remote GPU's name) and the seconds it ran there
    (what was billed: the record's ``wall_s``; the time waited here goes to ``elapsed_s``)."""

    result: StageResult
    device: str | None = None
    wall_s: float | None = None


class StageRunner(Protocol):
    def device(self, job: Job, spec: StageSpec) -> str:
        """The device the stage's context names (checked before the stage starts)."""
        ...

    def run(self, ctx: StageContext, spec: StageSpec, params: StageParams) -> Ran:
        """Fill ``ctx.staging`` with the stage's outputs (honouring ``ctx.frame_range``)."""
        ...


class LocalRunner:
    """Runs the stage's own code in this process, with the job's models from this
    machine's model store (its cache, or a mounted volume), found without network."""

    def __init__(self, job: Job, models: ModelSettings | None = None) -> None:
        # Resolved before any work: a missing or altered model fails the job at once.
        self.registry: Registry | None = None
        self.model_dirs: dict[str, Path] = {}
        if job.models:
            if models is None:
                raise BadInput("the job names models and this worker was given no model store")
            self.registry = registry_for(models)
            self.model_dirs = resolve(job.models, models)

    def device(self, job: Job, spec: StageSpec) -> str:
        return devices.resolve(job.device, spec.device)

    def run(self, ctx: StageContext, spec: StageSpec, params: StageParams) -> Ran:
        missing = [m for m in spec.selected_models(params) if m not in self.model_dirs]
        if missing:
            raise BadInput(f"the job does not name {spec.name}'s model {', '.join(missing)}")
        ctx.models = {m: self.model_dirs[m] for m in spec.selected_models(params)}
        ctx.model_registry = self.registry
        return Ran(spec.run(ctx, params), device=devices.describe(ctx.device))


def execute_shot(
    job: Job,
    emit: EventFn,
    cancel: threading.Event,
    runner: StageRunner | None = None,
    models: ModelSettings | None = None,
) -> JobResult:
    """Run ``job``'s stages in order on its local shot folder (see :func:`..execute`)."""
    if job.shot is None:
        raise BadInput("the job names neither a shot folder nor remote inputs")
    return _execute_in(
        ShotFolder(Path(job.shot)), job, emit, cancel, runner or LocalRunner(job, models)
    )


def _execute_in(
    shot: ShotFolder, job: Job, emit: EventFn, cancel: threading.Event, runner: StageRunner
) -> JobResult:
    shot.prepare()
    records: list[StageRecord] = []
    chunks: list[ChunkResult] = []
    with shot.lock():
        manifest = shot.load_manifest() or shot.new_manifest()
        if job.source is not None:
            manifest.source = job.source
        shot.save_manifest(manifest)

        def result(status: str = "ok", error: str | None = None) -> JobResult:
            return JobResult(
                job_id=job.job_id,
                status=status,  # type: ignore[arg-type]
                records=records,
                error=error,
                frames=manifest.frames,
                chunks=chunks,
            )

        for request in job.stages:
            spec = get_stage(request.name)
            params = _params(spec, request.params)
            stage_key = cache.stage_key(spec, params, manifest, job.models, shot.root)
            if request.frames is not None:
                try:
                    chunk = _run_chunk(
                        job,
                        spec,
                        params,
                        stage_key,
                        request.frames,
                        shot,
                        manifest,
                        emit,
                        cancel,
                        runner,
                    )
                except StageFailed as exc:
                    return result("failed", exc.line())
                chunks.append(chunk)
                continue
            good = manifest.done(spec.name)
            if not job.force and cache.is_fresh(good, stage_key.key, shot.root):
                assert good is not None
                if manifest.stages[spec.name] is not good:  # after a failed rerun: restore it
                    manifest.stages[spec.name] = good
                    shot.save_manifest(manifest)
                records.append(good)
                emit(StageEvent(stage=spec.name, status="cached", record=good))
                continue
            record = _run_stage(job, spec, params, stage_key, shot, manifest, emit, cancel, runner)
            records.append(record)
            if record.status == "failed":
                return result("failed", record.error)
        return result()


def _params(spec: StageSpec, raw: dict) -> StageParams:
    try:
        return spec.params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"invalid {spec.name} parameter {field}: {first['msg']}") from exc


def _context(
    job: Job,
    spec: StageSpec,
    shot: ShotFolder,
    staging: Path,
    device: str,
    manifest: Manifest,
    inputs: dict[str, str],
    emit: EventFn,
    cancel: threading.Event,
    frame_range: tuple[int, int] | None,
) -> StageContext:
    return StageContext(
        stage=spec.name,
        shot_root=shot.root,
        staging=staging,
        device=device,
        source=job.source,
        source_path=Path(job.source.path) if job.source else None,
        frames=manifest.frames,
        inputs=inputs,
        frame_range=frame_range,
        on_progress=lambda done, total, message: emit(
            ProgressEvent(stage=spec.name, done=done, total=total, message=message)
        ),
        cancel_event=cancel,
    )


def _run_stage(
    job: Job,
    spec: StageSpec,
    params: StageParams,
    stage_key: cache.StageKey,
    shot: ShotFolder,
    manifest: Manifest,
    emit: EventFn,
    cancel: threading.Event,
    runner: StageRunner,
) -> StageRecord:
    inputs, models, key = stage_key
    device = runner.device(job, spec)
    staging = shot.staging_dir(spec.name, key)
    if job.force and staging.exists():
        shutil.rmtree(staging)
    # Work staged under another key (other params or inputs) can never be resumed.
    shot.discard_stale_staging(spec.name, keep=staging)
    staging.mkdir(parents=True, exist_ok=True)
    atomic.remove_leftovers(staging)  # half-written files of a killed run
    record = StageRecord(
        stage=spec.name,
        version=spec.version,
        status="running",
        params=params.model_dump(mode="json"),
        cache_key=key,
        inputs=inputs,
        models=models,
        backend=job.backend,
        device=devices.describe(device),
        cost_usd=0.0 if job.backend == "local" else None,
        # Its outputs stay in place until this run's are swapped in: keep knowing them.
        last_good=manifest.done(spec.name),
    )
    manifest.stages[spec.name] = record
    shot.save_manifest(manifest)
    emit(StageEvent(stage=spec.name, status="started", record=record))
    ctx = _context(job, spec, shot, staging, device, manifest, inputs, emit, cancel, None)
    started = time.monotonic()
    try:
        ran = runner.run(ctx, spec, params)
        outputs = _collect_outputs(staging, spec, ctx.written)
        for pass_name in spec.produces:
            atomic.swap_dir(staging / pass_name, shot.pass_dir(pass_name))
        shutil.rmtree(staging, ignore_errors=True)
    except (KeyboardInterrupt, Cancelled):
        _fail(record, "interrupted; the next run resumes where this one stopped", started)
        shot.save_manifest(manifest)
        emit(StageEvent(stage=spec.name, status="failed", record=record))
        raise
    except VfxIngestError as exc:
        _fail(record, exc.line(), started)
    except Exception as exc:
        log.debug("stage %s failed:\n%s", spec.name, traceback.format_exc())
        _fail(record, f"{type(exc).__name__}: {exc}", started)
    else:
        result = ran.result
        record.status = "done"
        record.last_good = None
        record.device = ran.device or record.device
        record.outputs = outputs
        record.output_digest = tree_digest(outputs)
        record.frames = result.frames.frame_set if result.frames else None
        record.stats = result.stats
        record.finished_at = utcnow()
        record.wall_s = round(time.monotonic() - started, 3)
        if ran.wall_s is not None:
            record.stats = {**record.stats, "elapsed_s": record.wall_s}
            record.wall_s = round(ran.wall_s, 3)
        if result.frames is not None:
            manifest.frames = result.frames
    shot.save_manifest(manifest)
    emit(StageEvent(stage=spec.name, status=record.status, record=record))  # type: ignore[arg-type]
    return record


def _run_chunk(
    job: Job,
    spec: StageSpec,
    params: StageParams,
    stage_key: cache.StageKey,
    frames: tuple[int, int],
    shot: ShotFolder,
    manifest: Manifest,
    emit: EventFn,
    cancel: threading.Event,
    runner: StageRunner,
) -> ChunkResult:
    """Run one frame range of a chunkable stage into its own staging folder."""
    first, last = frames
    if spec.chunking is None:
        raise BadInput(f"{spec.name} cannot run in frame-range chunks")
    device = runner.device(job, spec)
    base = shot.staging_dir(spec.name, stage_key.key)
    staging = base.with_name(f"{base.name}-{first}-{last}")
    staging.mkdir(parents=True, exist_ok=True)
    atomic.remove_leftovers(staging)
    ctx = _context(
        job, spec, shot, staging, device, manifest, stage_key.inputs, emit, cancel, frames
    )
    started = time.monotonic()
    what = f"{spec.name} frames {first}-{last}"
    try:
        ran = runner.run(ctx, spec, params)
        outputs = _collect_outputs(staging, spec, ctx.written)
    except (KeyboardInterrupt, Cancelled):
        raise
    except VfxIngestError as exc:
        raise StageFailed(f"{what} failed: {redact.text(exc.line())}") from exc
    except Exception as exc:
        log.debug("%s failed:\n%s", what, traceback.format_exc())
        raise StageFailed(f"{what} failed: {redact.text(f'{type(exc).__name__}: {exc}')}") from exc
    return ChunkResult(
        stage=spec.name,
        frames=frames,
        folder=staging.relative_to(shot.root).as_posix(),
        outputs=outputs,
        stats=ran.result.stats,
        device=ran.device or devices.describe(device),
        wall_s=round(time.monotonic() - started, 3),
    )


def _fail(record: StageRecord, error: str, started: float) -> None:
    record.status = "failed"
    record.error = redact.text(error)
    record.finished_at = utcnow()
    record.wall_s = round(time.monotonic() - started, 3)


def _collect_outputs(
    staging: Path, spec: StageSpec, written: dict[str, FileDigest]
) -> dict[str, FileDigest]:
    """Digest every staged output, reusing digests taken while writing."""
    outputs: dict[str, FileDigest] = {}
    for pass_name in spec.produces:
        folder = staging / pass_name
        if not folder.is_dir():
            raise VfxIngestError(f"{spec.name} produced no {pass_name} output")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(staging).as_posix()
            outputs[rel] = file_digest(path, written.get(rel))
    return outputs
