"""The RunPod serverless worker: ``python -m vfx_ingest.backends.runpod.handler``.

RunPod's worker SDK (``runpod.serverless.start``) takes jobs from the endpoint's queue and
calls :func:`handler` with ``{"id": ..., "input": {"action": ..., ...}}``:

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

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ... import __version__, redact
from ...errors import VfxIngestError
from ...job import Event, Job, ProgressEvent

Report = Callable[[dict[str, Any]], None]


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
        work = Job.model_validate(payload.get("job"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return {"error": f"invalid job ({where}: {redact.text(first['msg'])})"}
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


def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The function given to ``runpod.serverless.start``."""
    import runpod

    return handle(job, lambda progress: runpod.serverless.progress_update(job, progress))


def main() -> None:
    # The SDK logs whole jobs at DEBUG (its default level); jobs carry presigned URLs.
    if "RUNPOD_LOG_LEVEL" not in os.environ and "RUNPOD_DEBUG_LEVEL" not in os.environ:
        os.environ["RUNPOD_LOG_LEVEL"] = "INFO"
    sys.stdout = redact.RedactingStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = redact.RedactingStream(sys.stderr)  # type: ignore[assignment]
    redact.install()
    import runpod

    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
