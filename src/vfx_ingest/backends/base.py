"""The backend interface: carry a job to a worker and bring its result back.

Like an httpx transport, a backend is one small method; the pipeline never asks which
backend it holds. The local backend runs the worker in-process; remote backends upload
inputs, run the same worker remotely, and download outputs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from ..job import Job, JobResult
from ..worker import EventFn

if TYPE_CHECKING:
    from ..cost.meter import CostMeter


class Backend(Protocol):
    name: str
    # Remote backends run on machines with their own model store (an image or a volume):
    # the planner then names models by their locked digests instead of requiring them here.
    remote: bool

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        """Execute ``job``; release every resource it started before returning or raising.

        ``meter``: feed it the billed time and rate of remote work; it sets ``cancel`` when
        the run passes the user's cost limit (contract in ``vfx_ingest.cost.meter``)."""
        ...
