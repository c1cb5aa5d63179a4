"""The local backend: the worker runs in this process, on this machine's CPU or GPU."""

from __future__ import annotations

import threading

from ..config import Settings
from ..job import Job, JobResult
from ..worker import EventFn, execute


class LocalBackend:
    name = "local"

    def __init__(self, settings: Settings | None = None) -> None:
        """Nothing to configure: the device comes with each job."""

    def run(self, job: Job, on_event: EventFn, cancel: threading.Event) -> JobResult:
        return execute(job, on_event, cancel)
