"""A RunPod-serverless-compatible endpoint on this machine (``vfx-ingest worker serve``).

It follows RunPod's published queue-endpoint API (docs.runpod.io/serverless/endpoints/
operation-reference and /job-states) so that our client, RunPod's SDKs and ``curl`` talk
to it as to ``https://api.runpod.ai/v2/<endpoint_id>``:

- ``POST /run`` ``{"input": ..., "policy"?: {"executionTimeout", "ttl"}}`` ->
  ``{"id", "status": "IN_QUEUE"}``; bodies over 10 MB are refused (20 MB for ``/runsync``),
  as RunPod does;
- ``POST /runsync[?wait=ms]`` -> the finished job (or its status when the wait ends);
- ``GET|POST /status/{id}`` -> ``{"id", "status", "delayTime", "executionTime", "output"?,
  "error"?}``; while IN_PROGRESS, ``output`` is the last ``progress_update`` payload;
- ``GET|POST /stream/{id}`` -> ``{"id", "status", "stream": []}``;
- ``POST /cancel/{id}`` -> ``{"id", "status": "CANCELLED"}``;
- ``GET /health`` -> ``{"jobs": {...}, "workers": {...}}``.

Jobs run under the RunPod SDK's own worker runtime (``runpod.serverless.modules.rp_scale.
JobScaler`` and ``rp_job.run_job``, in the SDK's local mode where the job source is
pluggable): the SDK takes jobs from this endpoint's queue, runs the same async handler a
RunPod worker runs, and stops a cancelled or timed-out job by cancelling its task, as on
RunPod. A handler answer with ``refresh_worker`` (a stage that ignored the cancel) makes
the SDK ask for ``stopPod``; here that calls ``on_recycle`` (the command exits, so the
process and its runaway thread end, as RunPod replaces the worker).

It is a server on the network: every request needs ``Authorization: Bearer <token>``
(generated when none is given), posts must be ``application/json``, job ids in paths must
match :data:`JOB_ID`, and jobs may only name objects on ``storage_origins``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from ... import __version__, redact
from ...config import Settings
from ...errors import VfxIngestError
from .handler import Handle, Report, cancellable, load_job

RETENTION_S = 1800
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
OPS = {"run", "runsync", "status", "stream", "cancel", "health"}
RUN_LIMIT = 10 * 1024 * 1024  # RunPod's /run payload limit
RUNSYNC_LIMIT = 20 * 1024 * 1024
DEFAULT_TTL_MS = 24 * 3600 * 1000
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


@dataclass
class _Job:
    id: str
    input: Any
    execution_timeout_s: float | None = None
    ttl_s: float = DEFAULT_TTL_MS / 1000
    status: str = "IN_QUEUE"
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    output: Any = None
    error: str | None = None
    progress: Any = None
    done: threading.Event = field(default_factory=threading.Event)  # a final status
    returned: threading.Event = field(default_factory=threading.Event)  # the handler's done

    def view(self) -> dict[str, Any]:
        now = time.monotonic()
        started = self.started or (self.finished if self.status in FINAL else None) or now
        answer: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "delayTime": round((started - self.created) * 1000),
            "workerId": "local",
        }
        if self.started is not None:
            answer["executionTime"] = round(((self.finished or now) - self.started) * 1000)
        if self.status == "IN_PROGRESS" and self.progress is not None:
            answer["output"] = self.progress
        if self.status == "COMPLETED" or (self.status == "FAILED" and self.output):
            answer["output"] = self.output
        if self.error is not None:
            answer["error"] = self.error
        return answer


class LocalEndpoint:
    """The endpoint (see the module docstring). Use as a context manager, or start/stop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 1,
        execution_timeout_s: float | None = None,
        handle: Handle | None = None,
        api_key: str | None = None,
        cancel_grace_s: float = 30.0,
        storage_origins: list[str] | None = None,
        on_recycle: Callable[[], None] | None = None,
    ) -> None:
        from .handler import handle as real_handle

        work = handle or real_handle
        if storage_origins is not None:
            work = _only_objects_on(storage_origins, work)
        self.handler = cancellable(work, self._progress_for, cancel_grace_s)
        self.generated_token = api_key is None
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.failure: str | None = None
        redact.install()
        redact.register_secret(self.api_key)
        self.execution_timeout_s = execution_timeout_s
        self.workers = workers
        self.on_recycle = on_recycle
        self.recycled = 0
        self.jobs: dict[str, _Job] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None
        self.runtime: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scaler: Any = None
        self.ready = threading.Event()
        self.queue: asyncio.Queue[_Job] | None = None
        self.stops: list[str] = []

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def describe(self) -> str:
        """What `vfx-ingest worker serve` prints: where it is and how to point runs at it
        (with the token, on a line of its own, when it was generated here)."""
        text = (
            f"RunPod-compatible endpoint on {self.url}: set runpod.api_url = "
            f'"{self.url}" and runpod.endpoint_id = "local". Ctrl-C stops it.'
        )
        if self.generated_token:
            text += f"\nIts token (set RUNPOD_API_KEY to it): {self.api_key}"
        return text

    def retire(self) -> None:
        """Stop serving: a stage ignored its cancel and its thread cannot be stopped, so
        the process must end, as RunPod replaces such a worker (``failure`` says why)."""
        self.failure = (
            "a cancelled stage did not stop within runpod.cancel_grace_s; the worker exits "
            "so that it ends (RunPod recycles such a worker)"
        )
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def start(self) -> LocalEndpoint:
        self._start_runtime()
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="endpoint-http", daemon=True
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self._start_runtime()
        self.server.serve_forever()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job, wait for them, stop the SDK runtime, close the socket."""
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            self.cancel(job.id)
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.started is not None:
                job.returned.wait(max(0.0, deadline - time.monotonic()))
        if self.loop is not None and self.scaler is not None:
            self.loop.call_soon_threadsafe(self.scaler.kill_worker)
        if self.runtime is not None:
            self.runtime.join(max(1.0, deadline - time.monotonic()))
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ the SDK runtime

    def _start_runtime(self) -> None:
        if self.runtime is not None:
            return
        from ...worker.remote_io import clean_scratch

        clean_scratch()  # what jobs of a killed worker left behind
        self.runtime = threading.Thread(target=self._run_sdk, name="runpod-sdk", daemon=True)
        self.runtime.start()
        self.ready.wait(30)

    def _run_sdk(self) -> None:
        from runpod.serverless.modules import worker_state
        from runpod.serverless.modules.rp_logger import RunPodLogger
        from runpod.serverless.modules.rp_scale import JobScaler

        # Outside its local mode the SDK ignores a pluggable job source and calls RunPod.
        assert worker_state.IS_LOCAL_TEST, "unset RUNPOD_WEBHOOK_GET_JOB to serve locally"
        if not {"RUNPOD_LOG_LEVEL", "RUNPOD_DEBUG_LEVEL"} & set(os.environ):
            RunPodLogger().set_level("WARN")  # its DEBUG default logs whole jobs (URLs)

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.queue = asyncio.Queue()
            self.scaler = JobScaler(
                {
                    "handler": self.handler,
                    "jobs_fetcher": self._take,
                    "jobs_fetcher_timeout": 5,
                    "stop_signals_fetcher": self._stop_signals,
                    "stop_signals_fetcher_timeout": 5,
                    "jobs_handler": self._run_job,
                    "concurrency_modifier": lambda _: self.workers,
                }
            )
            self.ready.set()
            await self.scaler.run()

        asyncio.run(main())

    async def _take(self, session: Any, wanted: int) -> list[dict[str, Any]] | None:
        """The SDK's job source: what ``job-take`` gives a RunPod worker."""
        assert self.queue is not None
        try:
            job = await asyncio.wait_for(self.queue.get(), 0.5)
        except TimeoutError:
            return None
        with self.lock:
            if job.status != "IN_QUEUE":
                return None
            if time.monotonic() - job.created > job.ttl_s:
                self._finish(job, "TIMED_OUT", error="the job's ttl ran out in the queue")
                return None
            job.status, job.started = "IN_PROGRESS", time.monotonic()
            if job.execution_timeout_s is not None:
                self.loop.call_later(job.execution_timeout_s, self._expire, job)  # type: ignore[union-attr]
        return [{"id": job.id, "input": job.input}]

    async def _stop_signals(self, session: Any) -> list[str]:
        """The SDK's stop channel: jobs cancelled or timed out while running."""
        await asyncio.sleep(0.05)
        with self.lock:
            stops, self.stops = self.stops, []
        return stops

    async def _run_job(self, session: Any, config: dict[str, Any], taken: dict) -> None:
        """What the SDK's ``handle_job`` does, with the result kept here instead of posted
        to RunPod's ``job-done`` URL."""
        from runpod.serverless.modules.rp_job import run_job

        job = self.jobs[taken["id"]]
        try:
            result = await run_job(config["handler"], taken)
        finally:
            job.returned.set()
        with self.lock:
            if job.status == "IN_PROGRESS":
                error = result.get("error")
                status = "FAILED" if error else "COMPLETED"
                self._finish(job, status, output=result.get("output"), error=error)
        if result.get("stopPod"):
            self.recycled += 1
            if self.on_recycle is not None:
                self.on_recycle()

    def _progress_for(self, taken: dict[str, Any]) -> Report:
        job = self.jobs[taken["id"]]

        def report(progress: dict[str, Any]) -> None:
            job.progress = progress

        return report

    def _finish(self, job: _Job, status: str, *, output: Any = None, error: Any = None) -> None:
        job.status, job.finished = status, time.monotonic()
        job.output = output
        job.error = redact.text(str(error)) if error else None
        job.done.set()
        if job.started is None:
            job.returned.set()  # never handed to the handler

    def _expire(self, job: _Job) -> None:
        with self.lock:
            if job.status == "IN_PROGRESS":
                self._finish(
                    job,
                    "TIMED_OUT",
                    error=f"the job ran past its execution timeout ({job.execution_timeout_s:g} s)",
                )
                self.stops.append(job.id)

    # ---------------------------------------------------------------- operations

    def submit(self, payload: Any, policy: dict[str, Any] | None = None) -> _Job:
        policy = policy or {}
        timeout_ms = policy.get("executionTimeout")
        job = _Job(
            id=f"local-{uuid.uuid4()}",
            input=payload,
            execution_timeout_s=timeout_ms / 1000 if timeout_ms else self.execution_timeout_s,
            ttl_s=policy.get("ttl", DEFAULT_TTL_MS) / 1000,
        )
        with self.lock:
            self._prune()
            self.jobs[job.id] = job
        assert self.loop is not None and self.queue is not None
        self.loop.call_soon_threadsafe(self.queue.put_nowait, job)
        return job

    def get(self, job_id: str) -> _Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> _Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINAL:
                return job
            running = job.status == "IN_PROGRESS"
            self._finish(job, "CANCELLED")
            if running:
                self.stops.append(job.id)
        return job

    def health(self) -> dict[str, Any]:
        with self.lock:
            states = [job.status for job in self.jobs.values()]
            running = sum(1 for j in self.jobs.values() if j.started and not j.returned.is_set())
        return {
            "jobs": {
                "completed": states.count("COMPLETED"),
                "failed": states.count("FAILED") + states.count("TIMED_OUT"),
                "inProgress": states.count("IN_PROGRESS"),
                "inQueue": states.count("IN_QUEUE"),
                "retried": 0,
            },
            "workers": {"idle": max(0, self.workers - running), "running": running},
        }

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id in [
            j.id for j in self.jobs.values() if j.finished and now - j.finished > RETENTION_S
        ]:
            del self.jobs[job_id]


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    execution_timeout_s: float | None,
    api_key: str | None = None,
    storage_url: str | None = None,
) -> LocalEndpoint:
    """The ``serve`` hook (``vfx-ingest worker serve``): jobs may name objects only on
    ``storage_url`` or the configured storage; ``runpod.cancel_grace_s`` applies, and a
    stage that ignores its cancel retires the endpoint (the command then exits)."""
    from ...config import load_settings

    settings = load_settings()
    endpoint = LocalEndpoint(
        host=host,
        port=port,
        workers=workers,
        execution_timeout_s=execution_timeout_s,
        api_key=api_key,
        cancel_grace_s=settings.runpod.cancel_grace_s,
        storage_origins=[storage_url] if storage_url else storage_origins(settings),
    )
    endpoint.on_recycle = endpoint.retire
    return endpoint


def storage_origins(settings: Settings) -> list[str]:
    """Where the configured object storage's URLs point (none without a bucket)."""
    if not settings.s3.bucket:
        return []
    from ...storage import Store

    return [Store(settings.s3).presign_get("probe", 60)]


def _only_objects_on(origins: list[str], work: Handle) -> Handle:
    """``work`` for jobs whose every URL is on one of ``origins`` (scheme, host, port):
    a job must not make this machine fetch from anywhere else."""
    allowed = {_origin(url) for url in origins}

    def refusal(node: Any) -> dict[str, Any] | None:
        foreign = sorted({_origin(url) for url in _urls(node)} - allowed)
        if not foreign:
            return None
        where = ", ".join(foreign)
        return {"error": f"refused: the job names objects outside the storage endpoint ({where})"}

    def checked(job: dict[str, Any], report: Report, cancel: threading.Event) -> dict[str, Any]:
        payload = job.get("input")
        if answer := refusal(payload):
            return answer
        if isinstance(payload, dict) and "job_ref" in payload:
            # The stored document's URLs are checked too; it is read once, here.
            try:
                stored = load_job(payload).model_dump(mode="json")
            except (ValidationError, VfxIngestError) as exc:
                return {"error": redact.text(f"cannot read the job: {str(exc).splitlines()[0]}")}
            if answer := refusal(stored):
                return answer
            job = {**job, "input": {"action": "run", "job": stored}}
        return work(job, report, cancel)

    return checked


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _urls(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [url for value in node.values() for url in _urls(value)]
    if isinstance(node, list):
        return [url for value in node for url in _urls(value)]
    if isinstance(node, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", node):
        return [node]
    return []


def _handler_class(endpoint: LocalEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"vfx-ingest-endpoint/{__version__}"

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the command prints what matters

        def _route(self, method: str) -> None:
            given = self.headers.get("Authorization") or ""
            if not secrets.compare_digest(given.removeprefix("Bearer "), endpoint.api_key):
                return self._send(401, {"error": "Unauthorized"})
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            if segments[:1] == ["v2"]:
                segments = segments[1:]
            # [<endpoint_id>] <op> [<job_id>]
            op_at = next((i for i, s in enumerate(segments[:2]) if s in OPS), None)
            if op_at is None:
                return self._send(404, {"error": "no such route"})
            op, rest = segments[op_at], segments[op_at + 1 :]
            if op in ("run", "runsync", "cancel") and method != "POST":
                return self._send(405, {"error": f"/{op} takes POST"})
            if op == "health":
                return self._send(200, endpoint.health())
            if op in ("run", "runsync"):
                return self._run(op, parts.query)
            if len(rest) != 1 or not JOB_ID.match(rest[0]):
                return self._send(400, {"error": f"/{op} needs one valid job id"})
            job = endpoint.cancel(rest[0]) if op == "cancel" else endpoint.get(rest[0])
            if job is None:
                return self._send(404, {"error": "no such job"})
            if op == "cancel":
                return self._send(200, {"id": job.id, "status": job.status})
            if op == "stream":
                return self._send(200, {"id": job.id, "status": job.status, "stream": []})
            return self._send(200, job.view())

        def _run(self, op: str, query: str) -> None:
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                return self._send(415, {"error": "the body must be application/json"})
            length = int(self.headers.get("Content-Length") or 0)
            limit = RUN_LIMIT if op == "run" else RUNSYNC_LIMIT
            if length > limit:
                self._discard(length)
                return self._send(
                    413, {"error": f"/{op} payloads are limited to {limit // 2**20} MB"}
                )
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict) or "input" not in body:
                return self._send(400, {"error": "the request body needs an 'input'"})
            policy = body.get("policy") if isinstance(body.get("policy"), dict) else None
            job = endpoint.submit(body["input"], policy)
            if op == "run":
                return self._send(200, {"id": job.id, "status": job.status})
            wait_ms = parse_qs(query).get("wait", ["90000"])[0]
            job.done.wait(min(max(int(wait_ms), 1000), 300000) / 1000)
            return self._send(200, job.view())

        def _discard(self, length: int) -> None:
            """Read a refused body (up to a bound), so the client reads our answer."""
            left = min(length, 4 * RUNSYNC_LIMIT)
            while left > 0 and (block := self.rfile.read(min(left, 1 << 20))):
                left -= len(block)
            self.close_connection = True

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
