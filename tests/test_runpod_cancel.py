"""A cancelled RunPod job stops its stage, under the runpod SDK's own worker runtime.

``LocalEndpoint`` hands jobs to the SDK's ``JobScaler`` and ``run_job`` (runpod-python,
local mode); a cancel reaches the job as the SDK's ``stop_job`` (its asyncio task is
cancelled), exactly as RunPod's stop signal does. Storage is moto's S3 server.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vfx_ingest import pipeline
from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.config import load_settings
from vfx_ingest.job import ProgressEvent
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import Cancelled

from conftest import use_endpoint
from remote_stages import BURN, BURN_THREADS, RELEASE, STUBBORN


def cpu_ticks(native_id: int) -> int | None:
    """CPU time (clock ticks) a thread of this process has used; None once it is gone."""
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def run_and_cancel(clip: Path, shot: Path, stage: str, after: int) -> None:
    """Run ``stage`` remotely; cancel (as Ctrl-C does) once it reported ``after`` steps."""
    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.unit == "frames" and event.done >= after:
            cancel.set()

    request = pipeline.RunRequest(clip=clip, shot=shot, stages=[stage], backend="runpod-serverless")
    with pytest.raises(Cancelled):
        pipeline.run(request, load_settings(), on_event, cancel)


@pytest.mark.timeout(120)
def test_a_cancelled_job_stops_using_cpu_within_the_grace_time(s3, clips, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "burn", BURN)
    BURN_THREADS.clear()
    grace = 5.0
    with LocalEndpoint(cancel_grace_s=grace) as server:
        use_endpoint(server, monkeypatch)
        run_and_cancel(clips(frames=4), tmp_path / "shot", "burn", after=20)
        (job,) = server.jobs.values()
        assert job.status == "CANCELLED"
        (thread,) = BURN_THREADS
        # The SDK's stop reached the thread: it ended (its CPU time is no more) within
        # the grace time, and the worker is not recycled.
        assert job.returned.wait(grace), "the handler did not return within the grace time"
        assert server.recycled == 0
        assert _settles(thread), "the stage thread still uses the CPU"
        assert server.health()["workers"]["running"] == 0


def _settles(native_id: int) -> bool:
    """Whether the thread uses no more CPU over a few scheduler ticks."""
    before = cpu_ticks(native_id)
    threading.Event().wait(0.3)
    after = cpu_ticks(native_id)
    return after is None or after == before


@pytest.mark.timeout(120)
def test_a_stage_that_ignores_the_cancel_recycles_the_worker(s3, clips, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "stubborn", STUBBORN)
    BURN_THREADS.clear()
    RELEASE.clear()
    recycled = threading.Event()
    try:
        with LocalEndpoint(cancel_grace_s=0.5, on_recycle=recycled.set) as server:
            use_endpoint(server, monkeypatch)
            run_and_cancel(clips(frames=4), tmp_path / "shot", "stubborn", after=1)
            # The handler gave up after the grace time and answered refresh_worker, which
            # the SDK's run_job turned into stopPod: the worker is to be replaced.
            assert recycled.wait(30), "no refresh_worker after the grace time"
            (job,) = server.jobs.values()
            assert job.status == "CANCELLED" and job.returned.is_set()
            assert server.recycled == 1
            (thread,) = BURN_THREADS
            assert cpu_ticks(thread) is not None  # still stuck: only a recycle ends it
    finally:
        RELEASE.set()
