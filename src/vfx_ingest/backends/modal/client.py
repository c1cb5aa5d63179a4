"""The client side of a Modal run: which stages go, and how each one goes and comes back.

For each stage of the job, in order, holding the local shot's lock:

1. the same cache decision the worker makes: a stage whose key matches and whose outputs
   verify here is skipped, so a cached run never starts a container;
2. the models it loads must be in the models volume in the planned version;
3. the shot's copy in the shots volume gets what the stage reads (``shots.RemoteShot``);
4. ``.spawn`` of a one-stage job on the app's class for the stage's GPU; the worker's
   events come back through a queue while the call runs;
5. the outputs are downloaded, checked against the record's sha256 digests, swapped into
   the local shot, and the record is merged into the local ``shot.json``.

Ctrl-C, a cancel, and any error cancel the call (``FunctionCall.cancel``): nothing keeps
running. The remote stage records itself as interrupted and keeps its staging, so the next
run resumes it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter

from ... import __version__, atomic, cache
from ...errors import BadInput, StageFailed, VfxIngestError
from ...job import Event, Job, JobResult, ProgressEvent, StageEvent, StageRequest
from ...manifest import Manifest, StageRecord, utcnow
from ...shot import ShotFolder
from ...stages import get_stage
from ...stages.base import Cancelled, StageParams, StageSpec
from ...worker import EventFn
from . import models_volume
from .gpus import parse_gpu
from .seam import CallHandle, EventQueue, ModalCalls, VolumeCalls
from .shots import RemoteShot
from .spec import AppSpec, ClassSpec

INTERRUPTED = "interrupted; the next run resumes where this one stopped"
_EVENT = TypeAdapter(Event)


@dataclass
class Workers:
    """Where jobs go: the app's spec, its classes by name, the run's GPU override, and
    for an ephemeral app the run it belongs to (its billing tag)."""

    spec: AppSpec
    cls: Callable[[str], Any]
    gpu: str | None = None
    run_id: str | None = None

    def target(self, stage: str) -> tuple[ClassSpec, str | None]:
        """The stage's class, and the GPU to ask for when it is not the class's own."""
        entry = self.spec.class_for(stage)
        if entry.gpu is None or self.gpu is None:
            return entry, None
        wanted = str(parse_gpu(self.gpu))
        return entry, None if wanted == entry.gpu else wanted


class Meter(Protocol):
    """What a backend feeds the run's cost meter (``vfx_ingest.cost.meter.CostMeter``)."""

    def set_rate(self, usd_per_second: float, price_id: str | None = None) -> None: ...

    def tick(self, seconds: float) -> None: ...


@dataclass
class Options:
    environment: str | None
    poll_s: float = 0.5
    meter: Meter | None = None
    # USD per second and price id of a worker with this GPU (None: CPU only).
    rate: Callable[[str | None], tuple[float, str]] | None = None


class ModalClient:
    def __init__(
        self,
        calls: ModalCalls,
        workers: Workers,
        shots: VolumeCalls,
        models: Callable[[list[str]], VolumeCalls],
        options: Options,
    ) -> None:
        self.calls = calls
        self.workers = workers
        self.shots = shots
        self.models = models  # the models volume, looked up for these model ids
        self.options = options

    def run(self, job: Job, on_event: EventFn, cancel: threading.Event) -> JobResult:
        shot = ShotFolder(Path(job.shot))
        remote = RemoteShot(self.shots, shot.root, self.workers.spec.shots_mount)
        records: list[StageRecord] = []
        with shot.lock():
            manifest = shot.load_manifest() or shot.new_manifest()
            if job.source is not None:
                manifest.source = job.source
            self._check_models(job, manifest, shot)
            shot.save_manifest(manifest)
            for request in job.stages:
                spec, params, key = _decide(request, manifest, job, shot)
                previous = manifest.stages.get(spec.name)
                if not job.force and cache.is_fresh(previous, key, shot.root):
                    assert previous is not None
                    records.append(previous)
                    on_event(StageEvent(stage=spec.name, status="cached", record=previous))
                    continue
                stage = _Stage(self, job, request, spec, params, shot, manifest, remote)
                record = stage.run(on_event, cancel)
                records.append(record)
                if record.status == "failed":
                    return JobResult(
                        job_id=job.job_id, status="failed", records=records, error=record.error
                    )
        return JobResult(job_id=job.job_id, status="ok", records=records)

    def _check_models(self, job: Job, manifest: Manifest, shot: ShotFolder) -> None:
        """Every model a stage that will run loads is in the models volume, as planned:
        checked before anything is sent. A stage runs from the first one whose cache does
        not hold (the ones after it read what it rewrites)."""
        pending: list[StageRequest] = []
        for index, request in enumerate(job.stages):
            spec, _, key = _decide(request, manifest, job, shot)
            if job.force or not cache.is_fresh(manifest.stages.get(spec.name), key, shot.root):
                pending = job.stages[index:]
                break
        wanted = set()
        for request in pending:
            spec = get_stage(request.name)
            wanted |= set(spec.selected_models(spec.params.model_validate(request.params)))
        refs = [ref for ref in job.models if ref.id in wanted]
        if refs:
            models_volume.require(self.models([ref.id for ref in refs]), refs)


def _decide(
    request: StageRequest, manifest: Manifest, job: Job, shot: ShotFolder
) -> tuple[StageSpec, StageParams, str]:
    """The stage, its params and its cache key as the shot stands (the worker's own)."""
    spec = get_stage(request.name)
    params = spec.params.model_validate(request.params)
    return spec, params, cache.stage_key(spec, params, manifest, job.models, shot.root).key


class _Stage:
    """One stage of the run, sent to Modal and brought back."""

    def __init__(
        self,
        client: ModalClient,
        job: Job,
        request: StageRequest,
        spec: StageSpec,
        params: StageParams,
        shot: ShotFolder,
        manifest: Manifest,
        remote: RemoteShot,
    ) -> None:
        self.client = client
        self.job = job
        self.request = request
        self.spec = spec
        self.shot = shot
        self.manifest = manifest
        self.remote = remote
        selected = spec.selected_models(params)
        self.refs = [ref for ref in job.models if ref.id in selected]
        self.entry, self.gpu = client.workers.target(spec.name)
        self.started = False  # the worker said the stage started (a local record exists)

    def run(self, on_event: EventFn, cancel: threading.Event) -> StageRecord:
        source = self.remote.prepare(self.spec, self.manifest)
        job = Job(
            job_id=f"{self.job.job_id}-{self.spec.name}",
            shot=self.remote.container_path,
            source=source,
            stages=[self.request],
            models=self.refs,
            # --device applies on the worker as here: auto finds the class's GPU.
            device=self.job.device if self.entry.gpu else "cpu",
            force=self.job.force,
            backend="modal",
        )
        options = self.client.options
        gpu = self.gpu or self.entry.gpu
        with self.client.calls.event_queue(options.environment) as events:
            call = self.client.calls.spawn(
                self.client.workers.cls(self.entry.name),
                gpu=self.gpu,
                models=",".join(sorted(ref.id for ref in self.refs)),
                args=(job.model_dump_json(), events.remote, __version__),
            )
            spawned = time.monotonic()
            try:
                answer, final = self._follow(call, events, on_event, cancel, _Ticker(options, gpu))
                return self._finish(answer, final, call, time.monotonic() - spawned, on_event)
            except BaseException as exc:
                call.cancel()
                self._abandon(exc, on_event)
                raise

    def _follow(
        self,
        call: CallHandle,
        events: EventQueue,
        on_event: EventFn,
        cancel: threading.Event,
        ticker: _Ticker,
    ) -> tuple[dict[str, Any], StageEvent | None]:
        """Relay the worker's events until the call answers; its last stage event (done,
        cached or failed) is held back until the outputs are here."""
        final: StageEvent | None = None
        poll = self.client.options.poll_s
        while True:
            ticker.tick()  # a cost limit sets ``cancel``
            if cancel.is_set():
                raise Cancelled(f"{self.spec.name} was cancelled")
            for item in events.get_many(100, poll):
                final = self._relay(item, on_event) or final
            answer = call.result(timeout=0)
            if answer is not None:
                ticker.tick()
                # The worker flushed its last events before answering.
                while items := events.get_many(100, 0.05):
                    for item in items:
                        final = self._relay(item, on_event) or final
                return answer, final

    def _relay(self, item: dict[str, Any], on_event: EventFn) -> StageEvent | None:
        event = _EVENT.validate_python(item)
        if isinstance(event, ProgressEvent):
            on_event(event)
            return None
        if event.status != "started":
            return event
        if event.record is not None:
            self.manifest.stages[self.spec.name] = event.record
            self.shot.save_manifest(self.manifest)
            self.started = True
        on_event(event)
        return None

    def _finish(
        self,
        answer: dict[str, Any],
        final: StageEvent | None,
        call: CallHandle,
        call_s: float,
        on_event: EventFn,
    ) -> StageRecord:
        if "error" in answer:
            error = answer["error"]
            exc: VfxIngestError = (
                BadInput(error["line"]) if error["exit_code"] == 2 else StageFailed(error["line"])
            )
            raise exc
        result = JobResult.model_validate(answer["result"])
        record = next(r for r in result.records if r.stage == self.spec.name)
        record.stats["modal"] = self._modal_stats(answer, call, call_s)
        record.stats["cold_start_s"] = answer.get("cold_start_s", 0.0)
        if record.status == "done":
            remote_manifest = self.remote.read_manifest()
            record.outputs = self._download(record, on_event)
            if remote_manifest is not None and remote_manifest.frames is not None:
                self.manifest.frames = remote_manifest.frames
        self.manifest.stages[self.spec.name] = record
        self.shot.save_manifest(self.manifest)
        status = final.status if final is not None else record.status
        on_event(StageEvent(stage=self.spec.name, status=status, record=record))  # type: ignore[arg-type]
        return record

    def _download(self, record: StageRecord, on_event: EventFn) -> dict:
        """The outputs into this stage's local staging, checked, then swapped into place."""
        staging = self.shot.staging_dir(self.spec.name, record.cache_key)
        staging.mkdir(parents=True, exist_ok=True)
        atomic.remove_leftovers(staging)

        def progress(done: int, total: int) -> None:
            on_event(
                ProgressEvent(stage=self.spec.name, done=done, total=total, message="download")
            )

        digests = self.remote.download(record, staging, progress)
        for pass_name in self.spec.produces:
            if (staging / pass_name).is_dir():
                atomic.swap_dir(staging / pass_name, self.shot.pass_dir(pass_name))
        shutil.rmtree(staging, ignore_errors=True)
        return digests

    def _modal_stats(self, answer: dict[str, Any], call: CallHandle, call_s: float) -> dict:
        seconds = float(answer.get("seconds", 0.0))
        gpu = self.gpu or self.entry.gpu
        count = parse_gpu(gpu).count if gpu else 0
        stats = {
            "app": self.client.workers.spec.name,
            "class": self.entry.name,
            "gpu": gpu,
            "function_call": call.object_id,
            "shot": self.remote.key,
            "seconds": seconds,
            "gpu_seconds": round(seconds * count, 3),
            "call_s": round(call_s, 3),
        }
        if self.client.workers.run_id:
            stats["run"] = self.client.workers.run_id
        return stats

    def _abandon(self, exc: BaseException, on_event: EventFn) -> None:
        """The call was cancelled or failed: say so in the local record."""
        if not self.started:
            return
        record = self.manifest.stages[self.spec.name]
        if record.status != "running":
            return
        interrupted = isinstance(exc, KeyboardInterrupt | Cancelled)
        record.status = "failed"
        record.error = INTERRUPTED if interrupted else str(exc)
        record.finished_at = utcnow()
        self.shot.save_manifest(self.manifest)
        on_event(StageEvent(stage=self.spec.name, status="failed", record=record))


class _Ticker:
    """Feeds the cost meter the call's time since it was spawned, at its worker's rate: a
    bound above what Modal bills (which starts when the container does)."""

    def __init__(self, options: Options, gpu: str | None) -> None:
        self.meter = options.meter
        self.last = time.monotonic()
        if self.meter is not None and options.rate is not None:
            self.meter.set_rate(*options.rate(gpu))

    def tick(self) -> None:
        now = time.monotonic()
        if self.meter is not None:
            self.meter.tick(now - self.last)
        self.last = now
