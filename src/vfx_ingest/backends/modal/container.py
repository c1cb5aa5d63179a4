"""What runs inside a Modal container: the stage's models checked once, jobs through
:func:`vfx_ingest.worker.execute` on the shot's copy in the shots volume.

Nothing here imports Modal: the class in ``app.py`` hands in how to reach the volume
(reload before a job, commit after) and the queue progress goes into, so the same code runs
under ``.local()`` in tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, Protocol

from ... import __version__
from ...config import load_settings
from ...errors import BadInput, VfxIngestError
from ...job import Event, Job, ModelRef, ProgressEvent, StageEvent
from ...worker import execute

log = logging.getLogger(__name__)

# How often buffered events go to the client's queue: one call per flush, not per frame.
FLUSH_S = 0.5
# How long a cancelled stage has to stop at its next progress report.
GRACE_S = 30.0


class EventSink(Protocol):
    """The part of ``modal.Queue`` a worker uses."""

    def put_many(self, values: list[Any]) -> None: ...


class EventPump:
    """Buffers a job's events and sends them in batches from a background thread; of the
    progress events of one stage only the latest is kept between two flushes."""

    def __init__(self, sink: EventSink | None, interval: float = FLUSH_S) -> None:
        self.sink = sink
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="events", daemon=True)

    def __enter__(self) -> EventPump:
        if self.sink is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

    def __call__(self, event: Event) -> None:
        # A record's outputs can list thousands of files, past a queue item's size limit;
        # the client takes the outputs from the call's result, never from an event.
        exclude = {"record": {"outputs"}} if isinstance(event, StageEvent) else None
        data = event.model_dump(mode="json", exclude=exclude)
        with self._lock:
            last = self._pending[-1] if self._pending else None
            progress = isinstance(event, ProgressEvent)
            if progress and last and last["type"] == "progress" and last["stage"] == event.stage:
                self._pending[-1] = data
            else:
                self._pending.append(data)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch and self.sink is not None:
            try:
                self.sink.put_many(batch)
            except Exception as exc:  # progress is best effort; the result carries the records
                log.warning("could not send %d progress events: %s", len(batch), exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def run_cancellable(
    work: Callable[[threading.Event], Any],
    poll_s: float = 0.2,
    grace_s: float = GRACE_S,
    stuck: Callable[[], None] | None = None,
) -> Any:
    """Run ``work(cancel)`` in a thread; wait here in short steps so that Modal's
    cancellation (an exception raised in this thread when the client cancels the call)
    arrives, sets ``cancel``, and lets the stage stop at its next progress report, record
    itself as interrupted, and keep its staging for the next run. A stage that does not
    stop within ``grace_s`` is ``stuck()`` (in a container: the process exits, so nothing
    keeps a GPU busy after a cancel)."""
    cancel = threading.Event()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    # Waits on an Event, not Thread.join: on Python 3.11 a join interrupted by an exception
    # marks a still running thread as stopped, and the process would not wait for it.
    threading.Thread(target=target, name="job", daemon=True).start()
    try:
        while not finished.wait(poll_s):
            pass
    except BaseException:
        cancel.set()
        if not finished.wait(grace_s) and stuck is not None:
            log.error("the stage did not stop within %.0f s of the cancel", grace_s)
            stuck()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class Container:
    """One per worker instance: Modal keeps one per (class, stage, models) in a container,
    so the models are checked once and every job after that reuses them."""

    def __init__(self, shots_mount: str, models: list[str]) -> None:
        started = time.monotonic()
        self.shots_mount = PurePosixPath(shots_mount)
        # A model missing from the volume is reported with the job's answer, as one line,
        # rather than as a container that fails to start.
        self.problem: VfxIngestError | None = None
        try:
            _verify_models(models)
        except VfxIngestError as exc:
            self.problem = exc
        self.enter_s = round(time.monotonic() - started, 3)
        self.jobs = 0

    def run(
        self,
        job_json: str,
        events: EventSink | None,
        client_version: str,
        reload: Callable[[], None],
        commit: Callable[[], None],
        stuck: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Execute one job; the answer is plain JSON data (the result, or an error line).
        ``stuck`` ends the container when a cancelled stage does not stop."""
        started = time.monotonic()
        cold_start_s = self.enter_s if self.jobs == 0 else 0.0
        self.jobs += 1
        try:
            job = self._job(job_json, client_version)
            reload()  # see what the client uploaded since this container started
            try:
                with EventPump(events) as pump:
                    models = load_settings()
                    result = run_cancellable(
                        lambda cancel: execute(job, pump, cancel, models=models), stuck=stuck
                    )
            finally:
                commit()  # the outputs, the manifest, and the staging a rerun resumes
        except VfxIngestError as exc:
            return {"error": {"line": exc.line(), "exit_code": exc.exit_code}}
        return {
            "result": result.model_dump(mode="json"),
            "seconds": round(time.monotonic() - started, 3),
            "cold_start_s": cold_start_s,
            "version": __version__,
        }

    def _job(self, job_json: str, client_version: str) -> Job:
        if self.problem is not None:
            raise self.problem
        if client_version != __version__:
            raise BadInput(
                f"the deployed Modal worker runs vfx-ingest {__version__} and this client is "
                f"{client_version}",
                fix="Run `vfx-ingest deploy modal` to deploy this version",
            )
        job = Job.model_validate_json(job_json)
        shot = PurePosixPath(job.shot)
        if ".." in shot.parts or self.shots_mount not in shot.parents:
            raise BadInput(f"the job's shot {job.shot} is not in the shots volume")
        return job


def _verify_models(ids: list[str]) -> None:
    """Check the models on the volume once (the store remembers the hashes), so the jobs'
    own checks find them verified."""
    if not ids:
        return
    from ...models.runtime import resolve

    resolve([ModelRef(id=model_id) for model_id in ids], load_settings())
