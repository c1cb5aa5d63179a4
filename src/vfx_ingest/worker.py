"""Execute a job: the one function every backend ends in.

The local backend calls :func:`execute` in-process; remote workers (RunPod, Modal) call it
on their own copy of the shot. It validates the job, skips stages whose cache key matches
and whose outputs verify, runs the others with outputs staged and moved into place only
when complete, and keeps ``shot.json`` current after every step.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from . import atomic, cache, devices
from .digest import FileDigest, file_digest, tree_digest
from .errors import BadInput, VfxIngestError
from .job import Event, Job, JobResult, ProgressEvent, StageEvent
from .manifest import Manifest, StageRecord, utcnow
from .shot import ShotFolder
from .stages import get_stage
from .stages.base import Cancelled, StageContext, StageSpec

log = logging.getLogger(__name__)

EventFn = Callable[[Event], None]


def execute(
    job: Job,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
) -> JobResult:
    """Run ``job``'s stages in order; stop at the first failure. Never raises for a stage
    failure (the result says so); raises BadInput for a job that cannot start, and
    re-raises Ctrl-C after recording it."""
    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    shot = ShotFolder(Path(job.shot))
    shot.prepare()
    records: list[StageRecord] = []
    with shot.lock():
        manifest = shot.load_manifest() or shot.new_manifest()
        if job.source is not None:
            manifest.source = job.source
        shot.save_manifest(manifest)
        for request in job.stages:
            spec = get_stage(request.name)
            params = _params(spec, request.params)
            inputs = cache.input_digests(spec, manifest)
            if inputs is None:
                raise BadInput(
                    f"{spec.name} needs {', '.join(spec.needs)}, which the shot does not have",
                    where=str(shot.root),
                    fix="Run the stages that produce it first (see `vfx-ingest stages`)",
                )
            models = {
                ref.id: ref.digest or ""
                for ref in job.models
                if ref.id in spec.selected_models(params)
            }
            key = cache.cache_key(spec, params, inputs, models)
            previous = manifest.stages.get(spec.name)
            if not job.force and cache.is_fresh(previous, key, shot.root):
                assert previous is not None
                records.append(previous)
                emit(StageEvent(stage=spec.name, status="cached", record=previous))
                continue
            record = _run_stage(
                job,
                spec,
                params,
                inputs,
                models,
                key,
                shot,
                manifest,
                emit,
                cancel,
                request.frames,
            )
            records.append(record)
            if record.status == "failed":
                return JobResult(
                    job_id=job.job_id, status="failed", records=records, error=record.error
                )
    return JobResult(job_id=job.job_id, status="ok", records=records)


def _params(spec: StageSpec, raw: dict) -> object:
    try:
        return spec.params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"invalid {spec.name} parameter {field}: {first['msg']}") from exc


def _run_stage(
    job: Job,
    spec: StageSpec,
    params: object,
    inputs: dict[str, str],
    models: dict[str, str],
    key: str,
    shot: ShotFolder,
    manifest: Manifest,
    emit: EventFn,
    cancel: threading.Event,
    request_frames: tuple[int, int] | None = None,
) -> StageRecord:
    device = devices.resolve(job.device, spec.device)
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
        params=params.model_dump(mode="json"),  # type: ignore[attr-defined]
        cache_key=key,
        inputs=inputs,
        models=models,
        backend=job.backend,
        device=devices.describe(device),
        cost_usd=0.0 if job.backend == "local" else None,
    )
    manifest.stages[spec.name] = record
    shot.save_manifest(manifest)
    emit(StageEvent(stage=spec.name, status="started", record=record))
    ctx = StageContext(
        stage=spec.name,
        shot_root=shot.root,
        staging=staging,
        device=device,
        source=job.source,
        source_path=Path(job.source.path) if job.source else None,
        frames=manifest.frames,
        inputs=inputs,
        frame_range=request_frames,
        on_progress=lambda done, total, message: emit(
            ProgressEvent(stage=spec.name, done=done, total=total, message=message)
        ),
        cancel_event=cancel,
    )
    started = time.monotonic()
    try:
        result = spec.run(ctx, params)
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
        record.status = "done"
        record.outputs = outputs
        record.output_digest = tree_digest(outputs)
        record.frames = result.frames.frame_set if result.frames else None
        record.stats = result.stats
        record.finished_at = utcnow()
        record.wall_s = round(time.monotonic() - started, 3)
        if result.frames is not None:
            manifest.frames = result.frames
    shot.save_manifest(manifest)
    emit(StageEvent(stage=spec.name, status=record.status, record=record))  # type: ignore[arg-type]
    return record


def _fail(record: StageRecord, error: str, started: float) -> None:
    record.status = "failed"
    record.error = error
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
