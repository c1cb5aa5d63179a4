"""Fan-out: a chunkable stage on a long plate runs as frame-range jobs side by side.

The plate's frames are split into near-equal cores, one per worker (at most
``max_workers``, each at least ``Chunking.min_frames`` long); every chunk after the first
starts ``Chunking.overlap`` frames before its core, so neighbours share frames a stitch can
align on. Each chunk's outputs come back into its own folder under the stage's staging
(``.chunks/<first>-<last>/``, marked complete only once every file is in and verified, so
an interrupted run resumes the chunks it finished); then ``spec.stitch`` merges them in
frame order into the staging folder, and the worker's usual swap and record follow.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .stages.base import (
    Cancelled,
    Chunking,
    StageContext,
    StageParams,
    StageResult,
    StageSpec,
)
from .worker import Ran

CHUNKS_DIR = ".chunks"
COMPLETE = ".complete.json"

Range = tuple[int, int]
ProgressFn = Callable[[int, int], None]
# Runs one chunk into ``dest``; reports (done, total); stops when the event is set.
ChunkFn = Callable[[Range, Path, ProgressFn, threading.Event], Ran]


def plan_chunks(frames: list[int], chunking: Chunking, max_workers: int) -> list[Range]:
    """Frame ranges (overlap included) for the chunk jobs; [] when one job should do."""
    count = min(max_workers, len(frames) // max(chunking.min_frames, 1))
    if count < 2:
        return []
    bounds = [round(i * len(frames) / count) for i in range(count + 1)]
    ranges = []
    for i in range(count):
        start = max(0, bounds[i] - chunking.overlap) if i else 0
        ranges.append((frames[start], frames[bounds[i + 1] - 1]))
    return ranges


def run_stage(
    ctx: StageContext,
    spec: StageSpec,
    run_one: Callable[[Range | None, Path, ProgressFn, threading.Event], Ran],
    max_workers: int,
    params: StageParams | None = None,
) -> Ran:
    """A remote stage: as frame-range chunks when it can be split (with these ``params``)
    and the plate is long enough, else as one job (``run_one(None, ...)``) into the
    stage's staging folder."""
    ranges: list[Range] = []
    splits = spec.chunkable is None or params is None or spec.chunkable(params)
    can_split = spec.chunking is not None and spec.stitch is not None
    if splits and can_split and ctx.frames is not None:
        assert spec.chunking is not None
        ranges = plan_chunks(ctx.frames.numbers(), spec.chunking, max_workers)
    if ranges:
        return run_chunked(ctx, spec, ranges, run_one, max_workers)
    return run_one(
        None, ctx.staging, lambda done, total: ctx.on_progress(done, total, ""), ctx.cancel_event
    )


def run_chunked(
    ctx: StageContext, spec: StageSpec, ranges: list[Range], run_chunk: ChunkFn, max_workers: int
) -> Ran:
    """Run the chunks (``max_workers`` at a time), then stitch them into ``ctx.staging``."""
    assert spec.stitch is not None
    root = ctx.staging / CHUNKS_DIR
    folders = [root / f"{first}-{last}" for first, last in ranges]
    progress = [(0, 0)] * len(ranges)
    lock = threading.Lock()
    stop = threading.Event()

    def report(index: int, done: int, total: int) -> None:
        with lock:
            progress[index] = (done, total)
            ctx.on_progress(sum(d for d, _ in progress), sum(t for _, t in progress), "")

    def one(index: int) -> dict:
        folder = folders[index]
        marker = folder / COMPLETE
        if marker.is_file():  # finished (and billed) in an earlier run
            return {**json.loads(marker.read_text()), "resumed": True}
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        ran = run_chunk(ranges[index], partial, lambda d, t: report(index, d, t), stop)
        done = {"frames": f"{ranges[index][0]}-{ranges[index][1]}", "device": ran.device}
        done |= {"wall_s": ran.wall_s, "stats": ran.result.stats}
        (partial / COMPLETE).write_text(json.dumps(done))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        return done

    with ThreadPoolExecutor(max_workers, thread_name_prefix="chunk") as pool:
        futures: list[Future[dict]] = [pool.submit(one, i) for i in range(len(ranges))]
        try:
            pending = set(futures)
            while pending:
                if ctx.cancel_event.is_set():
                    raise Cancelled(f"{spec.name} was cancelled")
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in finished:
                    future.result()  # the first failure stops the others
        except BaseException:
            stop.set()  # each chunk cancels its remote job; the pool waits for them
            raise
    chunks = [future.result() for future in futures]
    ctx.check_cancelled()
    spec.stitch(ctx, folders)
    shutil.rmtree(root, ignore_errors=True)
    devices = sorted({c["device"] for c in chunks if c["device"]})
    ran_now = [c["wall_s"] for c in chunks if not c.get("resumed")]
    return Ran(
        StageResult(stats={"chunks": chunks}),
        device=", ".join(devices) or None,
        # Chunks run side by side on separate workers: their seconds add up.
        wall_s=sum(w for w in ran_now if w is not None) if any(ran_now) else None,
    )
