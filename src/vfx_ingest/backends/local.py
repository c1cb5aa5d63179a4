"""The local backend: the worker runs in this process, on this machine's CPU or GPU."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..job import Event, Job, JobResult, StageEvent
from ..worker import EventFn, execute

if TYPE_CHECKING:
    from ..config import Settings
    from ..cost.meter import CostMeter


class LocalBackend:
    name = "local"
    remote = False

    def __init__(self, settings: Settings | None = None) -> None:
        # The device comes with each job; the settings say where the models are.
        self.settings = settings

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        if meter is None:
            return execute(job, on_event, cancel, models=self.settings)
        # This machine costs nothing: the meter runs at rate 0, so a limit never stops it.
        meter.set_rate(0.0, "local")

        def tick(event: Event) -> None:
            ran = isinstance(event, StageEvent) and event.status in ("done", "failed")
            if ran and event.record is not None and event.record.wall_s is not None:
                meter.tick(event.record.wall_s)
            on_event(event)

        return execute(job, tick, cancel, models=self.settings)
