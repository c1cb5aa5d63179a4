"""The backend interface: carry a job to a worker and bring its result back.

Like an httpx transport, a backend is one small method; the pipeline never asks which
backend it holds. The local backend runs the worker in-process; remote backends upload
inputs, run the same worker remotely, and download outputs.
"""

from __future__ import annotations

import threading
from typing import Protocol

from ..job import Job, JobResult
from ..worker import EventFn


class Backend(Protocol):
    name: str

    def run(self, job: Job, on_event: EventFn, cancel: threading.Event) -> JobResult:
        """Execute ``job``; release every resource it started before returning or raising."""
        ...
