"""The RunPod serverless worker: ``python -m vfx_ingest.backends.runpod.handler``.

RunPod's worker SDK (``runpod.serverless.start``) takes jobs from the endpoint's queue and
calls :func:`handler` with ``{"id": ..., "input": {"action": ..., ...}}``. The SDK runs
every job as an asyncio task on its one event loop and stops a cancelled (or timed-out)
job by cancelling that task (runpod-python 1.12, ``JobScaler.stop_job``). A synchronous
handler would block that loop and could not be stopped, so :func:`cancellable` runs the
work on its own thread and, when the task is cancelled, sets the job's cancel event (each
stage checks it between steps). A stage still running ``runpod.cancel_grace_s`` later
makes the handler return ``{"refresh_worker": True}``, which the SDK turns into
``stopPod``: RunPod replaces the worker rather than leave a runaway stage billing.

- ``{"action": "run", "job": <Job>}``: runs the job through :func:`vfx_ingest.worker.execute`
  (a remote job: objects in, objects out), reports progress with
  ``runpod.serverless.progress_update`` (what ``/status`` shows while the job runs, about
  once a second), and returns the :class:`~vfx_ingest.job.JobResult`. A failure returns
  ``{"error": ...}``, which RunPod turns into a FAILED job with that message.
- ``{"action": "health"}``: this worker's version, device, stages and models.

The same SDK runs it locally: ``--test_input '{"input": ...}'`` runs one job and exits;
``--rp_serve_api --rp_api_host 127.0.0.1 --rp_api_port 8000`` serves RunPod's development
API (``/runsync``...). ``vfx-ingest worker serve --api runpod`` serves the full endpoint
API (``/run``, ``/status``, ``/cancel``...) around :func:`handle`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from ... import __version__, redact
from ...errors import VfxIngestError
from ...job import Event, Job, ObjectRef, ProgressEvent

Report = Callable[[dict[str, Any]], None]
Handle = Callable[[dict[str, Any], Report, threading.Event], dict[str, Any]]
SdkHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

log = logging.getLogger(__name__)


def handle(
    job: dict[str, Any], report: Report, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """One RunPod job: ``job["input"]`` holds the action; ``report`` sends progress."""
    payload = job.get("input") or {}
    action = payload.get("action", "run") if isinstance(payload, dict) else None
    if action == "health":
        return health()
    if action != "run":
        return {"error": f"unknown action {action!r}: use run or health"}
    try:
        work = load_job(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return {"error": f"invalid job ({where}: {redact.text(first['msg'])})"}
    except VfxIngestError as exc:
        return {"error": redact.text(exc.line())}
    if work.remote is None:
        # A path on this worker is never ours to touch: remote jobs bring their objects.
        return {"error": "refused: a job sent to a worker must carry remote inputs"}
    from ...config import load_settings
    from ...worker import execute

    try:
        result = execute(work, _Throttled(report), cancel, models=load_settings())
    except VfxIngestError as exc:
        return {"error": redact.text(exc.line())}
    answer = result.model_dump(mode="json")
    if result.status == "failed":
        answer["error"] = redact.text(result.error or "the job failed")
    return answer


def load_job(payload: dict[str, Any]) -> Job:
    """The job a ``run`` carries, or fetches when the client stored it (over 1 MB)."""
    ref = payload.get("job_ref")
    if ref is None:
        return Job.model_validate(payload.get("job"))
    from ...worker.remote_io import read_document

    return Job.model_validate_json(read_document(ObjectRef.model_validate(ref)))


def health() -> dict[str, Any]:
    from ...config import load_settings
    from ...stages import REGISTRY

    try:
        import torch

        cuda = torch.cuda.is_available()
        device = torch.cuda.get_device_name(0) if cuda else "cpu"
        torch_version: str | None = torch.__version__
    except ImportError:
        device, torch_version = "cpu", None
    models_dir = load_settings().models_dir
    models = (
        sorted(p.name for p in models_dir.iterdir() if p.is_dir()) if models_dir.is_dir() else []
    )
    return {
        "ok": True,
        "version": __version__,
        "device": device,
        "torch": torch_version,
        "stages": list(REGISTRY),
        "models_dir": str(models_dir),
        "models": models,
    }


class _Throttled:
    """Progress at most about once a second per stage (each update is an HTTP request on
    RunPod), the last of a stage always."""

    def __init__(self, report: Report, interval: float = 1.0) -> None:
        self.report = report
        self.interval = interval
        self.last: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        if not isinstance(event, ProgressEvent):
            return
        now = time.monotonic()
        final = event.total and event.done >= event.total
        if not final and now - self.last.get(event.stage, 0.0) < self.interval:
            return
        self.last[event.stage] = now
        self.report(event.model_dump(mode="json"))


def cancellable(
    work: Handle, report_for: Callable[[dict[str, Any]], Report], grace_s: float
) -> SdkHandler:
    """An async handler for the SDK that runs ``work`` on a thread it can stop (see the
    module docstring). ``report_for(job)`` gives the job's progress callback."""

    async def run(job: dict[str, Any]) -> dict[str, Any]:
        cancel = threading.Event()
        done: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

        def target() -> None:
            try:
                done.set_result(work(job, report_for(job), cancel))
            except BaseException as exc:  # handed to the SDK, which reports it
                done.set_exception(exc)

        # A daemon thread, not the loop's executor: a stage that ignores the cancel must
        # not keep the process alive once RunPod recycles the worker.
        threading.Thread(target=target, name=f"job-{str(job.get('id'))[:12]}", daemon=True).start()
        waiter = asyncio.wrap_future(done)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            cancel.set()
            try:
                await asyncio.wait_for(asyncio.shield(waiter), grace_s)
            except TimeoutError:
                log.warning(
                    "job %s: its stage did not stop within %g s of the cancel; "
                    "asking RunPod to recycle this worker",
                    job.get("id"),
                    grace_s,
                )
                return {
                    "error": f"cancelled; the stage did not stop within {grace_s:g} s",
                    "refresh_worker": True,
                }
            except Exception:
                pass  # it stopped (by failing): the cancel stands
            raise

    return run


def _progress_for(job: dict[str, Any]) -> Report:
    import runpod

    return lambda progress: runpod.serverless.progress_update(job, progress)


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The function given to ``runpod.serverless.start``."""
    from ...config import load_settings

    grace = load_settings().runpod.cancel_grace_s  # the template sets it in the environment
    return await cancellable(handle, _progress_for, grace)(job)


def main() -> None:
    # The SDK logs whole jobs at DEBUG (its default level); jobs carry presigned URLs.
    if "RUNPOD_LOG_LEVEL" not in os.environ and "RUNPOD_DEBUG_LEVEL" not in os.environ:
        os.environ["RUNPOD_LOG_LEVEL"] = "INFO"
    sys.stdout = redact.RedactingStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = redact.RedactingStream(sys.stderr)  # type: ignore[assignment]
    redact.install()
    import runpod

    from ...worker.remote_io import clean_scratch

    clean_scratch()  # what jobs of a killed worker left behind
    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
