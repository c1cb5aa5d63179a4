"""The client side of a Modal run: the stage runner ``worker.execute`` is given.

The worker makes the cache decision (a cached run starts nothing), stages the outputs,
swaps them in and writes the records, as for every backend. For a stage that must run,
:class:`ModalRunner`:

1. makes the shot's copy in the shots volume hold what the stage reads
   (``shots.RemoteShot.prepare``: the clip, upstream passes whose records differ);
2. ``.spawn``s the stage's job on the app's class for the stage's GPU, or, for a chunkable
   stage on a long plate, one job per frame-range chunk (``fanout``: at most
   ``max_workers`` at once, stitched here); the worker's progress comes back through a
   queue while the calls run;
3. downloads the outputs into the staging folder (or each chunk's folder), every file
   checked against the sha256 the worker recorded.

Ctrl-C, a cancel (``--max-cost``) and any error cancel the calls (``FunctionCall.cancel``):
nothing keeps running. A remote stage records itself as interrupted and keeps its staging
in the volume, so the next run resumes it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from ... import __version__, fanout
from ...digest import FileDigest
from ...errors import BadInput, StageFailed, VfxIngestError
from ...job import Event, Job, JobResult, ProgressEvent, StageRequest
from ...manifest import FrameMap
from ...shot import ShotFolder
from ...stages.base import Cancelled, StageContext, StageParams, StageResult, StageSpec
from ...worker import Ran
from .gpus import parse_gpu
from .seam import CallHandle, EventQueue, ModalCalls, VolumeCalls
from .shots import RemoteShot
from .spec import AppSpec, ClassSpec

if TYPE_CHECKING:
    from ...cost.meter import CostMeter

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


@dataclass
class Options:
    environment: str | None
    poll_s: float = 0.5
    max_workers: int = 4
    meter: CostMeter | None = None
    # USD per second and price id of a worker with this GPU (None: CPU only).
    rate: Callable[[str | None], tuple[float, str]] | None = None


class ModalRunner:
    """Runs each stage of ``job`` on Modal (see the module docstring)."""

    def __init__(
        self,
        job: Job,
        calls: ModalCalls,
        workers: Workers,
        shots: VolumeCalls,
        options: Options,
        emit: Callable[[Event], None],
    ) -> None:
        self.job = job
        self.calls = calls
        self.workers = workers
        self.shots = shots
        self.options = options
        self.emit = emit

    def device(self, job: Job, spec: StageSpec) -> str:
        return "modal"  # the record gets the worker's own device name when it is done

    def run(self, ctx: StageContext, spec: StageSpec, params: StageParams) -> Ran:
        stage = _Stage(self, ctx, spec, params)
        ran = fanout.run_stage(ctx, spec, stage.one, self.options.max_workers, params)
        chunks = ran.result.stats.get("chunks")
        if chunks is not None:
            # ``wall_s`` (fanout's) is the billed sum of the chunks that ran now; chunks
            # resumed from an earlier run were billed then.
            now = [c["stats"]["modal"] for c in chunks if not c.get("resumed")]
            call_s = sum(float(m.get("call_s", 0.0)) for m in now)
            ran.result.stats["modal"] = stage.summary(ran.wall_s or 0.0, call_s=call_s)
        return ran


class _Stage:
    """One stage sent to Modal: one call, or one per chunk."""

    def __init__(
        self, runner: ModalRunner, ctx: StageContext, spec: StageSpec, params: StageParams
    ) -> None:
        self.runner = runner
        self.ctx = ctx
        self.spec = spec
        self.params = params
        selected = spec.selected_models(params)
        self.refs = [ref for ref in runner.job.models if ref.id in selected]
        self.entry, self.gpu = runner.workers.target(spec.name)
        manifest = ShotFolder(ctx.shot_root).load_manifest()
        assert manifest is not None  # the worker has written it
        self.remote = RemoteShot(runner.shots, ctx.shot_root, runner.workers.spec.shots_mount)
        self.source = self.remote.prepare(
            spec, manifest, lambda done, total: self._bytes("upload", done, total)
        )
        self.meter = _Ticker(runner.options, self.gpu or self.entry.gpu)
        self.calls: list[str] = []

    def one(
        self,
        frames: fanout.Range | None,
        dest: Path,
        report: Callable[[int, int], None],
        stop: threading.Event,
    ) -> Ran:
        """Run the stage (or the chunk ``frames``) on Modal; its outputs into ``dest``."""
        options = self.runner.options
        job = Job(
            job_id=uuid.uuid4().hex,
            shot=self.remote.container_path,
            source=self.source,
            stages=[
                StageRequest(
                    name=self.spec.name, params=self.params.model_dump(mode="json"), frames=frames
                )
            ],
            models=self.refs,
            # --device applies on the worker as here: auto finds the class's GPU.
            device=self.runner.job.device if self.entry.gpu else "cpu",
            force=self.runner.job.force,
            backend="modal",
        )
        with self.runner.calls.event_queue(options.environment) as events:
            call = self.runner.calls.spawn(
                self.runner.workers.cls(self.entry.name),
                gpu=self.gpu,
                models=",".join(sorted(ref.id for ref in self.refs)),
                args=(job.model_dump_json(), events.remote, __version__),
            )
            self.calls.append(call.object_id)
            spawned = time.monotonic()
            self.meter.start()
            try:
                answer = self._follow(call, events, report, stop)
            except BaseException:
                call.cancel()
                raise
        call_s = time.monotonic() - spawned
        result = _result(answer, self.spec.name)
        frame_map: FrameMap | None = None
        if frames is None:
            record = next((r for r in result.records if r.stage == self.spec.name), None)
            if record is None:
                raise StageFailed(f"the Modal worker returned no record for {self.spec.name}")
            outputs, base, stats, device = record.outputs, "", record.stats, record.device
            frame_map = result.frames if record.frames else None
        else:
            if not result.chunks:
                raise StageFailed(f"the Modal worker returned no chunk for {self.spec.name}")
            chunk = result.chunks[0]
            outputs, base, stats, device = chunk.outputs, chunk.folder, chunk.stats, chunk.device
        digests = self._download(outputs, base, dest)
        if frames is None:
            self.ctx.written.update(digests)  # the worker need not hash them again
        seconds = float(answer.get("seconds", 0.0))
        stats = {
            **stats,
            "modal": self.summary(seconds, call.object_id, call_s),
            "cold_start_s": answer.get("cold_start_s", 0.0),
        }
        return Ran(StageResult(frames=frame_map, stats=stats), device=device, wall_s=seconds)

    def summary(self, seconds: float, call: str | None = None, call_s: float | None = None) -> dict:
        """``stats.modal``: where it ran and for how long (GPU seconds are what is billed
        per GPU)."""
        workers = self.runner.workers
        gpu = self.gpu or self.entry.gpu
        count = parse_gpu(gpu).count if gpu else 0
        stats: dict[str, Any] = {
            "app": workers.spec.name,
            "class": self.entry.name,
            "gpu": gpu,
            "function_call": call or self.calls,
            "shot": self.remote.key,
            "seconds": round(seconds, 3),
            "gpu_seconds": round(seconds * count, 3),
        }
        if call_s is not None:
            stats["call_s"] = round(call_s, 3)
        if workers.run_id:
            stats["run"] = workers.run_id
        return stats

    def _follow(
        self,
        call: CallHandle,
        events: EventQueue,
        report: Callable[[int, int], None],
        stop: threading.Event,
    ) -> dict[str, Any]:
        """Relay the worker's progress until the call answers. Its stage events are not
        relayed: the local worker reports the stage itself, once the outputs are here."""
        poll = self.runner.options.poll_s
        while True:
            self.meter.tick()  # a cost limit sets the run's cancel event
            if stop.is_set() or self.ctx.cancel_event.is_set():
                raise Cancelled(f"{self.spec.name} was cancelled")
            for item in events.get_many(100, poll):
                self._relay(item, report)
            answer = call.result(timeout=0)
            if answer is not None:
                self.meter.tick()
                # The worker flushed its last events before answering.
                while items := events.get_many(100, 0.05):
                    for item in items:
                        self._relay(item, report)
                return answer

    def _relay(self, item: dict[str, Any], report: Callable[[int, int], None]) -> None:
        event = _EVENT.validate_python(item)
        if isinstance(event, ProgressEvent) and event.unit == "frames":
            report(event.done, event.total)

    def _download(self, outputs: dict[str, FileDigest], base: str, dest: Path) -> dict:
        total = sum(d.size for d in outputs.values())
        done = [0]
        lock = threading.Lock()

        def on_bytes(count: int) -> None:
            with lock:
                done[0] += count
                self._bytes("download", done[0], total)

        if total:
            self._bytes("download", 0, total)
        return self.remote.download(outputs, dest, base, on_bytes)

    def _bytes(self, what: str, done: int, total: int) -> None:
        self.runner.emit(
            ProgressEvent(stage=self.spec.name, done=done, total=total, message=what, unit="bytes")
        )


def _result(answer: dict[str, Any], stage: str) -> JobResult:
    """The worker's result; its error line as our error."""
    if "error" in answer:
        error = answer["error"]
        exc: VfxIngestError = (
            BadInput(error["line"]) if error["exit_code"] == 2 else StageFailed(error["line"])
        )
        raise exc
    result = JobResult.model_validate(answer["result"])
    if result.status != "ok":
        raise StageFailed(f"{stage} failed on the Modal worker: {result.error}")
    return result


class _Ticker:
    """Feeds the cost meter the calls' time since they were spawned, at the worker's rate:
    a bound above what Modal bills (which starts when the container does). Chunks running
    side by side each tick their own time."""

    def __init__(self, options: Options, gpu: str | None) -> None:
        self.meter = options.meter
        self.last = threading.local()
        if self.meter is not None and options.rate is not None:
            self.meter.set_rate(*options.rate(gpu))

    def start(self) -> None:
        self.last.at = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if self.meter is not None:
            self.meter.tick(now - self.last.at)
        self.last.at = now
