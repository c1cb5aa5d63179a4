"""The client side of remote execution, for any backend that can carry a job.

:class:`RemoteRunner` is the stage runner a remote backend hands to
:func:`vfx_ingest.worker.execute`: the cache decision, staging, swap and records stay the
worker's (so a fully cached run never starts a GPU), and for each stage that must run it

1. uploads what the stage reads (the clip, the upstream passes' files), content-addressed,
   so files the bucket holds already cost nothing;
2. sends a job naming those objects (presigned GETs, or keys on a mounted volume) through
   a :class:`Transport` (RunPod serverless, ...), and follows it: progress, the output
   mailbox, cancellation (Ctrl-C, errors, timeouts all cancel the remote job);
3. downloads the outputs into the staging folder, each checked against its sha256.

A chunkable stage on a long plate fans out into frame-range jobs (``fanout``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from .. import fanout
from ..digest import FileDigest
from ..errors import StageFailed
from ..frames import frame_number
from ..job import (
    Event,
    Job,
    JobResult,
    ObjectRef,
    OutputGrant,
    OutputObject,
    OutputRequest,
    PresignedAccess,
    ProgressEvent,
    RemoteIO,
    ShotSeed,
    StageRequest,
    VolumeAccess,
    object_key,
)
from ..manifest import Manifest
from ..paths import safe_join
from ..shot import ShotFolder
from ..stages import SOURCE, producer_of
from ..stages.base import Cancelled, StageContext, StageParams, StageResult, StageSpec
from ..storage import Store
from ..worker import Ran
from .worker_io import source_relpath


class RemoteState(BaseModel):
    """A remote job's state, whatever the transport's own vocabulary."""

    status: Literal["queued", "running", "done", "failed", "cancelled", "timed_out"]
    progress: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    queue_s: float | None = None
    execution_s: float | None = None


class Transport(Protocol):
    """Carries a job payload to a remote worker (one small interface, like an httpx
    transport): submit, poll, cancel."""

    name: str

    def submit(self, payload: dict[str, Any]) -> str: ...

    def poll(self, handle: str) -> RemoteState: ...

    def cancel(self, handle: str) -> None: ...


@dataclass
class RemoteOptions:
    volume: bool = False  # workers reach objects on a mounted volume
    max_workers: int = 4
    poll_s: float = 1.0
    timeout_s: float = 7200.0
    timeout_setting: str = "the job timeout"  # what the user raises, named in the error
    url_ttl_s: int = 3600
    info: dict[str, Any] = field(default_factory=dict)  # recorded in each stage's stats
    # Called with the seconds a remote job was alive (queued or running) since the last
    # call: the cost meter's ticks. Queue time counts, as a cold start is billed unseen.
    on_billed: Callable[[float], None] | None = None


class RemoteRunner:
    """Runs each stage of ``job`` remotely (see the module docstring)."""

    def __init__(
        self,
        job: Job,
        transport: Transport,
        store: Store,
        emit: Callable[[Event], None],
        options: RemoteOptions,
    ) -> None:
        self.job = job
        self.transport = transport
        self.store = store
        self.emit = emit
        self.options = options

    def device(self, job: Job, spec: StageSpec) -> str:
        return self.transport.name

    def run(self, ctx: StageContext, spec: StageSpec, params: StageParams) -> Ran:
        manifest = ShotFolder(ctx.shot_root).load_manifest() or Manifest(tool_version="")
        return fanout.run_stage(
            ctx,
            spec,
            lambda rng, dest, report, stop: self._one(
                ctx, spec, params, manifest, rng, dest, report, stop
            ),
            self.options.max_workers,
            params,
        )

    # ---------------------------------------------------------------- one job

    def _one(
        self,
        ctx: StageContext,
        spec: StageSpec,
        params: StageParams,
        manifest: Manifest,
        frames: tuple[int, int] | None,
        dest: Path,
        report: Callable[[int, int], None],
        stop: threading.Event,
    ) -> Ran:
        job_id = uuid.uuid4().hex
        mailbox = None if self.options.volume else Mailbox(self.store, job_id, self.options)
        io, sent = self._inputs(spec, manifest, ctx, frames, mailbox)
        source = None
        if io.source is not None and manifest.source is not None:
            # The worker places the clip itself; our local path is none of its business.
            source = manifest.source.model_copy(update={"path": io.source.relpath})
        remote_job = Job(
            job_id=job_id,
            source=source,
            stages=[
                StageRequest(name=spec.name, params=params.model_dump(mode="json"), frames=frames)
            ],
            models=self.job.models,
            device=self.job.device,
            backend=self.job.backend,
            remote=io,
        )
        handle = self.transport.submit({"action": "run", "job": remote_job.model_dump(mode="json")})
        try:
            state = self._follow(handle, spec, mailbox, report, stop, ctx.cancel_event)
        finally:
            if mailbox is not None:
                mailbox.close()
        try:
            result = JobResult.model_validate(state.output)
        except ValidationError as exc:
            raise StageFailed(
                f"the worker's answer is not a job result: {exc.errors()[0]['msg']}"
            ) from exc
        if result.status != "ok":
            raise StageFailed(f"{spec.name} failed on the worker: {result.error}")
        if frames is None:
            record = next((r for r in result.records if r.stage == spec.name), None)
            if record is None:
                raise StageFailed(f"the worker returned no record for {spec.name}")
            stats, device, wall = record.stats, record.device, record.wall_s
            frame_map = result.frames if record.frames else None
        else:
            if not result.chunks:
                raise StageFailed(f"the worker returned no chunk for {spec.name} {frames}")
            chunk = result.chunks[0]
            stats, device, wall, frame_map = chunk.stats, chunk.device, chunk.wall_s, None
        received = self._download(spec, result.outputs, dest, ctx if frames is None else None)
        remote = {
            **self.options.info,
            "job": handle,
            "device": device,
            "worker_wall_s": wall,
            "queue_s": state.queue_s,
            "execution_s": state.execution_s,
            "uploaded_bytes": sent,
            "downloaded_bytes": received,
        }
        return Ran(
            StageResult(frames=frame_map, stats={**stats, "remote": remote}),
            device=device,
            wall_s=state.execution_s,
        )

    def _inputs(
        self,
        spec: StageSpec,
        manifest: Manifest,
        ctx: StageContext,
        frames: tuple[int, int] | None,
        mailbox: Mailbox | None,
    ) -> tuple[RemoteIO, int]:
        """Upload what the stage reads; describe it as objects for the worker."""
        files: list[tuple[str, Path, FileDigest]] = []
        source_ref = None
        seed = ShotSeed(frames=manifest.frames)
        context: set[int] = set()
        if frames is not None and spec.chunk_context is not None and manifest.frames is not None:
            context = set(spec.chunk_context(manifest.frames.numbers(), frames))
        # Optional inputs (``uses``) travel too when this run has them.
        present = [use for use in spec.uses if ctx.has_input(use)]
        for need in (*spec.needs, *present):
            if need == SOURCE:
                if manifest.source is None or ctx.source_path is None:
                    raise StageFailed(f"{spec.name} needs the source clip")
                rel = source_relpath(ctx.source_path.name)
                files.append((rel, ctx.source_path, manifest.source.digest))
                source_ref = rel
                continue
            producer = producer_of(need).name
            record = manifest.done(producer)
            assert record is not None  # the planner checked the input is there
            seed.records[producer] = record
            for rel, digest in record.outputs.items():
                if rel.split("/", 1)[0] == need and _in_range(rel, frames, context):
                    files.append((rel, ctx.shot_root / rel, digest))
        total = sum(d.size for _, _, d in files)
        stats = self.store.put_files(
            [(path, digest) for _, path, digest in files],
            self._bytes(spec.name, "upload", total),
        )
        refs = {
            rel: ObjectRef(
                relpath=rel,
                sha256=digest.sha256,
                size=digest.size,
                key=self.store.key_for(digest.sha256),
                url=None
                if mailbox is None
                else self.store.presign_get(
                    self.store.key_for(digest.sha256), self.options.url_ttl_s
                ),
            )
            for rel, _, digest in files
        }
        source = refs.pop(source_ref) if source_ref is not None else None
        return (
            RemoteIO(
                access=VolumeAccess() if mailbox is None else mailbox.access(),
                output_prefix=self.store.cas_prefix,
                source=source,
                inputs=list(refs.values()),
                seed=seed,
            ),
            stats.bytes,
        )

    def _follow(
        self,
        handle: str,
        spec: StageSpec,
        mailbox: Mailbox | None,
        report: Callable[[int, int], None],
        stop: threading.Event,
        cancel: threading.Event,
    ) -> RemoteState:
        """Wait for the job; whatever ends the wait early cancels the remote job."""
        deadline = time.monotonic() + self.options.timeout_s
        finished = False
        billed_until = time.monotonic()

        def bill() -> None:
            nonlocal billed_until
            now = time.monotonic()
            if self.options.on_billed is not None:
                self.options.on_billed(now - billed_until)
            billed_until = now

        try:
            while True:
                bill()  # may pass the cost limit, which sets `cancel`
                if cancel.is_set() or stop.is_set():
                    raise Cancelled(f"{spec.name} was cancelled")
                state = self.transport.poll(handle)
                if state.progress and state.progress.get("type") == "progress":
                    with contextlib.suppress(ValidationError):
                        event = ProgressEvent.model_validate(state.progress)
                        if event.unit == "frames":
                            report(event.done, event.total)
                if mailbox is not None:
                    mailbox.serve()
                if state.status == "done":
                    finished = True
                    return state
                if state.status != "queued" and state.status != "running":
                    finished = True
                    raise StageFailed(_ended(spec.name, state))
                if time.monotonic() > deadline:
                    raise StageFailed(
                        f"{spec.name} did not finish within {self.options.timeout_s:g} s; "
                        "the remote job was cancelled",
                        fix=f"Raise {self.options.timeout_setting}, or check the remote workers",
                    )
                stop.wait(self.options.poll_s)
        finally:
            bill()
            if not finished:
                with contextlib.suppress(Exception):
                    self.transport.cancel(handle)

    def _download(
        self,
        spec: StageSpec,
        outputs: list[OutputObject],
        dest: Path,
        ctx: StageContext | None,
    ) -> int:
        """Fetch the outputs into ``dest``, each checked; returns the bytes received."""
        for obj in outputs:
            if obj.relpath.split("/", 1)[0] not in spec.produces:
                raise StageFailed(
                    f"the worker returned {obj.relpath}, which {spec.name} does not produce"
                )
            if obj.key != self.store.key_for(obj.sha256):
                raise StageFailed(f"the worker returned an unexpected object key for {obj.relpath}")
        on_bytes = self._bytes(spec.name, "download", sum(o.size for o in outputs))

        def fetch(obj: OutputObject) -> None:
            path = safe_join(dest, obj.relpath, what="output path")
            digest = self.store.download(obj.key, path, obj.sha256, obj.size, on_bytes)
            if ctx is not None:
                ctx.written[obj.relpath] = digest  # _collect_outputs need not hash it again

        with ThreadPoolExecutor(8, thread_name_prefix="download") as pool:
            list(pool.map(fetch, outputs))
        return sum(o.size for o in outputs)

    def _bytes(self, stage: str, what: str, total: int) -> Callable[[int], None]:
        lock = threading.Lock()
        done = [0]

        def on_bytes(count: int) -> None:
            with lock:
                done[0] += count
                self.emit(
                    ProgressEvent(
                        stage=stage, done=done[0], total=total, message=what, unit="bytes"
                    )
                )

        return on_bytes


class Mailbox:
    """The client's end of the presigned output mailbox (see ``PresignedAccess``)."""

    def __init__(self, store: Store, job_id: str, options: RemoteOptions) -> None:
        self.store = store
        self.job_id = job_id
        self.options = options
        base = f"{store.prefix}jobs/{job_id}/"
        self.outbox, self.grant = f"{base}outbox.json", f"{base}grant.json"
        self.granted = False

    def access(self) -> PresignedAccess:
        # The mailbox is read at the job's end: its URLs live as long as the job may.
        ttl = int(self.options.timeout_s) + self.options.url_ttl_s
        return PresignedAccess(
            outbox_url=self.store.presign_put(self.outbox, ttl),
            grant_url=self.store.presign_get(self.grant, ttl),
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        )

    def serve(self) -> None:
        """Answer the worker's output list once: a presigned PUT per missing object."""
        if self.granted:
            return
        data = self.store.get_json(self.outbox)
        if data is None:
            return
        request = OutputRequest.model_validate(data)
        for obj in request.objects:
            if obj.key != object_key(self.store.cas_prefix, obj.sha256):
                raise StageFailed(f"the worker asked to store {obj.relpath} under a foreign key")
        keys = sorted({obj.key for obj in request.objects})
        with ThreadPoolExecutor(16, thread_name_prefix="head") as pool:
            stored = dict(zip(keys, pool.map(self.store.exists, keys), strict=True))
        urls = {
            key: self.store.presign_put(key, self.options.url_ttl_s)
            for key in keys
            if not stored[key]
        }
        self.store.put_json(
            self.grant, OutputGrant(job_id=self.job_id, urls=urls).model_dump(mode="json")
        )
        self.granted = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.store.delete([self.outbox, self.grant])


def _in_range(
    relpath: str, frames: tuple[int, int] | None, context: set[int] | frozenset[int] = frozenset()
) -> bool:
    """Whether a chunk job needs this file: frame files inside its range, or among the
    frames outside it that the stage says a chunk reads (``StageSpec.chunk_context``)."""
    if frames is None:
        return True
    number = frame_number(relpath)
    if number is None:
        return True
    return frames[0] <= number <= frames[1] or number in context


def _ended(stage: str, state: RemoteState) -> str:
    if state.status == "timed_out":
        return f"{stage}: the remote job timed out (the endpoint's execution timeout)"
    if state.status == "cancelled":
        return f"{stage}: the remote job was cancelled"
    return f"{stage} failed on the worker: {state.error or 'no error message'}"
