"""A RunPod-serverless-compatible endpoint on this machine (``vfx-ingest worker serve``).

It follows RunPod's published queue-endpoint API (docs.runpod.io/serverless/endpoints/
operation-reference and /job-states) so that our client, RunPod's SDKs and ``curl`` talk
to it exactly as to ``https://api.runpod.ai/v2/<endpoint_id>``:

- ``POST /run`` ``{"input": ...}`` -> ``{"id", "status": "IN_QUEUE"}``;
- ``POST /runsync[?wait=ms]`` -> the finished job (or its status when the wait ends);
- ``GET|POST /status/{id}`` -> ``{"id", "status", "delayTime", "executionTime", "output"?,
  "error"?}``; while IN_PROGRESS, ``output`` is the last ``progress_update`` payload;
- ``GET|POST /stream/{id}`` -> ``{"id", "status", "stream": []}`` (our handler reports
  progress, it does not yield partial outputs);
- ``POST /cancel/{id}`` -> ``{"id", "status": "CANCELLED"}``;
- ``GET /health`` -> ``{"jobs": {...}, "workers": {...}}``.

Paths may carry an endpoint id (``/<endpoint_id>/run``) and a ``/v2`` prefix, as on RunPod.
Jobs run the real handler (:func:`..handler.handle`) on background threads, ``workers`` at
a time; a job past ``execution_timeout_s`` is stopped and reported TIMED_OUT, as RunPod's
execution timeout does. Results are kept 30 minutes, as for ``/run`` on RunPod. It binds
127.0.0.1 unless told otherwise; with ``api_key`` it wants RunPod's ``Authorization``
header (``Bearer <key>`` or the bare key) and answers 401 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ... import __version__, redact

Handle = Callable[[dict[str, Any], Callable[[dict[str, Any]], None], threading.Event], dict]

RETENTION_S = 1800
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
OPS = {"run", "runsync", "status", "stream", "cancel", "health"}


@dataclass
class _Job:
    id: str
    input: Any
    status: str = "IN_QUEUE"
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    output: Any = None
    error: str | None = None
    progress: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None
    timer: threading.Timer | None = None
    done: threading.Event = field(default_factory=threading.Event)

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
    ) -> None:
        if handle is None:
            from .handler import handle as real_handle

            handle = real_handle
        self.handle = handle
        self.api_key = api_key
        self.execution_timeout_s = execution_timeout_s
        self.jobs: dict[str, _Job] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="endpoint-job")
        self.workers = workers
        redact.install()
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def describe(self) -> str:
        """What `vfx-ingest worker serve` prints: where it is and how to point runs at it."""
        return (
            f"RunPod-compatible endpoint on {self.url}: set runpod.api_url = "
            f'"{self.url}" and runpod.endpoint_id = "local".'
        )

    def start(self) -> LocalEndpoint:
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="endpoint-http", daemon=True
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job, wait for the threads, close the socket."""
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            self.cancel(job.id)
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.future is not None and job.started is not None:
                job.done.wait(max(0.0, deadline - time.monotonic()))
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- operations

    def submit(self, payload: Any) -> _Job:
        job = _Job(id=f"local-{uuid.uuid4()}", input=payload)
        with self.lock:
            self._prune()
            self.jobs[job.id] = job
            job.future = self.pool.submit(self._work, job)
        return job

    def get(self, job_id: str) -> _Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> _Job | None:
        job = self.get(job_id)
        if job is None:
            return None
        with self.lock:
            if job.status not in FINAL:
                job.status = "CANCELLED"
                job.finished = time.monotonic()
                job.cancel.set()
                if job.future is not None and job.future.cancel():
                    job.done.set()  # never started
        return job

    def health(self) -> dict[str, Any]:
        with self.lock:
            states = [job.status for job in self.jobs.values()]
        running = states.count("IN_PROGRESS")
        return {
            "jobs": {
                "completed": states.count("COMPLETED"),
                "failed": states.count("FAILED") + states.count("TIMED_OUT"),
                "inProgress": running,
                "inQueue": states.count("IN_QUEUE"),
                "retried": 0,
            },
            "workers": {"idle": max(0, self.workers - running), "running": running},
        }

    def _work(self, job: _Job) -> None:
        with self.lock:
            if job.status != "IN_QUEUE":
                job.done.set()
                return
            job.status = "IN_PROGRESS"
            job.started = time.monotonic()
            if self.execution_timeout_s is not None:
                job.timer = threading.Timer(self.execution_timeout_s, self._expire, (job,))
                job.timer.daemon = True
                job.timer.start()

        def progress(payload: dict[str, Any]) -> None:
            job.progress = payload

        try:
            answer = self.handle({"id": job.id, "input": job.input}, progress, job.cancel)
            error = answer.pop("error", None) if isinstance(answer, dict) else None
            status, output = ("FAILED", answer) if error else ("COMPLETED", answer)
        except Exception as exc:
            # What the RunPod SDK reports for an exception escaping the handler.
            error = json.dumps(
                {
                    "error_type": str(type(exc)),
                    "error_message": str(exc),
                    "error_traceback": traceback.format_exc(),
                    "hostname": "local",
                    "worker_id": "local",
                    "runpod_version": f"vfx-ingest {__version__}",
                }
            )
            status, output = "FAILED", None
        with self.lock:
            if job.timer is not None:
                job.timer.cancel()
            if job.status == "IN_PROGRESS":
                job.status, job.output = status, output
                job.error = redact.text(str(error)) if error else None
                job.finished = time.monotonic()
        job.done.set()

    def _expire(self, job: _Job) -> None:
        with self.lock:
            if job.status == "IN_PROGRESS":
                job.status = "TIMED_OUT"
                job.error = (
                    f"the job ran past the execution timeout ({self.execution_timeout_s:g} s)"
                )
                job.finished = time.monotonic()
                job.cancel.set()

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id in [
            j.id for j in self.jobs.values() if j.finished and now - j.finished > RETENTION_S
        ]:
            del self.jobs[job_id]


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
            if endpoint.api_key is not None:
                given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if given != endpoint.api_key:
                    return self._send(401, {"error": "Unauthorized"})
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            if segments[:1] == ["v2"]:
                segments = segments[1:]
            # [<endpoint_id>] <op> [<job_id>]
            op_at = next((i for i, s in enumerate(segments[:2]) if s in OPS), None)
            if op_at is None:
                return self._send(404, {"error": f"no route {parts.path}"})
            op, rest = segments[op_at], segments[op_at + 1 :]
            if op in ("run", "runsync", "cancel") and method != "POST":
                return self._send(405, {"error": f"/{op} takes POST"})
            if op == "health":
                return self._send(200, endpoint.health())
            if op in ("run", "runsync"):
                body = self._json()
                if not isinstance(body, dict) or "input" not in body:
                    return self._send(400, {"error": "the request body needs an 'input'"})
                job = endpoint.submit(body["input"])
                if op == "run":
                    return self._send(200, {"id": job.id, "status": job.status})
                wait_ms = parse_qs(parts.query).get("wait", ["90000"])[0]
                job.done.wait(min(max(int(wait_ms), 1000), 300000) / 1000)
                return self._send(200, job.view())
            if len(rest) != 1:
                return self._send(400, {"error": f"/{op} needs a job id"})
            job = endpoint.cancel(rest[0]) if op == "cancel" else endpoint.get(rest[0])
            if job is None:
                return self._send(404, {"error": f"no job {rest[0]}"})
            if op == "cancel":
                return self._send(200, {"id": job.id, "status": job.status})
            if op == "stream":
                return self._send(200, {"id": job.id, "status": job.status, "stream": []})
            return self._send(200, job.view())

        def _json(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            with contextlib.suppress(ValueError):
                return json.loads(self.rfile.read(length) or b"null")
            return None

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
