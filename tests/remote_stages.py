"""Small stages for remote-execution tests, registered with ``monkeypatch.setitem``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydantic import Field

from vfx_ingest.frames import frame_path
from vfx_ingest.stages.base import (
    Chunking,
    StageContext,
    StageParams,
    StageResult,
    StageSpec,
)


class SlowParams(StageParams):
    steps: int = Field(200, json_schema_extra={"cli": "--slow-steps"})
    delay: float = Field(0.05, json_schema_extra={"cli": "--slow-delay"})


def _slow(ctx: StageContext, params: SlowParams) -> StageResult:
    for step in range(params.steps):
        time.sleep(params.delay)
        ctx.progress(step + 1, params.steps)
    ctx.write_bytes("slow", "done.txt", b"done")
    return StageResult(stats={"steps": params.steps})


SLOW = StageSpec(
    name="slow",
    version="1",
    summary="Sleeps in steps, reporting progress (cancellation and timeout tests).",
    needs=("source",),
    produces=("slow",),
    params=SlowParams,
    run=_slow,
)


class NoParams(StageParams):
    pass


def _explode(ctx: StageContext, params: NoParams) -> StageResult:
    raise RuntimeError("boom on the worker")


EXPLODE = StageSpec(
    name="explode",
    version="1",
    summary="Fails with a known message.",
    needs=("source",),
    produces=("explode",),
    params=NoParams,
    run=_explode,
)


class FramesParams(StageParams):
    pass


def _frames(ctx: StageContext, params: FramesParams) -> StageResult:
    """One small file per plate frame, naming the chunk that wrote it."""
    assert ctx.frames is not None
    first, last = ctx.frame_range or (ctx.frames.first, ctx.frames.last)
    wanted = [n for n in ctx.frames.numbers() if first <= n <= last]
    for i, number in enumerate(wanted):
        plate = ctx.input_dir("plate") / frame_path("plate", number, "png")
        assert plate.is_file(), f"the chunk lacks its input {plate.name}"
        ctx.write_bytes("marks", frame_path("marks", number, "txt"), f"{first}-{last}".encode())
        ctx.progress(i + 1, len(wanted))
    return StageResult(stats={"frames": len(wanted)})


def _stitch(ctx: StageContext, chunk_dirs: list[Path]) -> None:
    """Keep, for each frame, the chunk that starts latest before it; check the overlap."""
    seen: dict[int, bytes] = {}
    starts = []
    for folder in chunk_dirs:
        files = sorted((folder / "marks").iterdir())
        numbers = [int(p.name.split(".")[1]) for p in files]
        starts.append(numbers[0])
        overlap = [n for n in numbers if n in seen]
        expected = FRAMES.chunking.overlap if seen else 0  # type: ignore[union-attr]
        assert len(overlap) == expected, (folder.name, overlap)
        for path, number in zip(files, numbers, strict=True):
            seen[number] = path.read_bytes()
    assert starts == sorted(starts), "chunks must come in frame order"
    for number, data in sorted(seen.items()):
        ctx.write_bytes("marks", frame_path("marks", number, "txt"), data)


FRAMES = StageSpec(
    name="frames",
    version="1",
    summary="Writes one file per frame; chunkable with an overlap of 2.",
    needs=("plate",),
    produces=("marks",),
    params=FramesParams,
    run=_frames,
    chunking=Chunking(overlap=2, min_frames=3),
    stitch=_stitch,
)


class BurnParams(StageParams):
    pass


# Native ids of the threads that ran BURN / STUBBORN, for tests that watch their CPU time.
BURN_THREADS: list[int] = []
RELEASE = threading.Event()  # lets STUBBORN end once its test is done


def _burn(ctx: StageContext, params: BurnParams) -> StageResult:
    """Spins the CPU, checking for a cancel between short bursts, as real stages do."""
    BURN_THREADS.append(threading.get_native_id())
    for step in range(1_000_000):
        end = time.thread_time() + 0.01
        while time.thread_time() < end:
            pass
        ctx.progress(step + 1, 1_000_000)  # raises Cancelled once the job is cancelled
    return StageResult()


BURN = StageSpec(
    name="burn",
    version="1",
    summary="Busy CPU until cancelled (cancel tests).",
    needs=("source",),
    produces=("burn",),
    params=BurnParams,
    run=_burn,
)


def _stubborn(ctx: StageContext, params: BurnParams) -> StageResult:
    """Spins without ever looking at the cancel (a stage stuck in native code)."""
    BURN_THREADS.append(threading.get_native_id())
    ctx.progress(1, 2)
    while not RELEASE.wait(0.001):
        pass
    return StageResult()


STUBBORN = StageSpec(
    name="stubborn",
    version="1",
    summary="Ignores cancels until released (recycle tests).",
    needs=("source",),
    produces=("stubborn",),
    params=BurnParams,
    run=_stubborn,
)
