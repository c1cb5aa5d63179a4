"""The worker: executes a Job (the wire format in ``vfx_ingest.job``) wherever it lands.

:func:`execute` is the one function every backend ends in. A job naming a shot folder runs
there (``executor``); a job whose inputs and outputs are objects (``job.remote``) runs on a
scratch copy built from them and hands its outputs back (``remote_io``). Nothing here
imports a backend: backends import this.
"""

from __future__ import annotations

import threading

from ..job import EventFn, Job, JobResult
from ..models.runtime import ModelSettings
from .executor import LocalRunner, Ran, StageRunner, execute_shot

__all__ = ["EventFn", "LocalRunner", "Ran", "StageRunner", "execute"]


def execute(
    job: Job,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    runner: StageRunner | None = None,
    models: ModelSettings | None = None,
) -> JobResult:
    """Run ``job``'s stages in order; stop at the first failure. Never raises for a stage
    failure (the result says so); raises BadInput for a job that cannot start, and
    re-raises Ctrl-C after recording it.

    ``models``: where this process finds the job's model weights (``Settings`` fits);
    the worker reads no configuration of its own."""
    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    if job.remote is not None:
        from .remote_io import execute_remote

        return execute_remote(job, emit, cancel, models)
    return execute_shot(job, emit, cancel, runner, models)
