"""Fan-out of chunkable stages: the planner, and chunk jobs through our RunPod-compatible
endpoint on 127.0.0.1 (it follows RunPod's published serverless API and runs the real
handler) with moto's S3 server, stitched locally."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfx_ingest import pipeline
from vfx_ingest.backends.runpod import handler
from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.config import load_settings
from vfx_ingest.fanout import plan_chunks
from vfx_ingest.job import StageEvent
from vfx_ingest.manifest import Manifest
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import Cancelled, Chunking

from conftest import use_endpoint
from remote_stages import FRAMES


@given(
    count=st.integers(1, 300),
    step=st.integers(1, 3),
    overlap=st.integers(0, 12),
    min_frames=st.integers(1, 40),
    workers=st.integers(1, 16),
)
def test_chunks_cover_every_frame_in_order_with_the_overlap(
    count, step, overlap, min_frames, workers
):
    frames = list(range(1001, 1001 + count * step, step))
    ranges = plan_chunks(frames, Chunking(overlap=overlap, min_frames=min_frames), workers)
    if not ranges:
        assert min(workers, count // min_frames) < 2
        return
    assert 2 <= len(ranges) <= workers
    index = {f: i for i, f in enumerate(frames)}
    spans = [(index[a], index[b]) for a, b in ranges]
    assert spans[0][0] == 0 and spans[-1][1] == count - 1
    for (_, prev_end), (start, end) in itertools.pairwise(spans):
        assert start == max(0, prev_end + 1 - overlap)  # shares exactly `overlap` frames
        assert end > prev_end
    cores = [spans[0][1] + 1] + [e - p for (_, p), (_, e) in itertools.pairwise(spans)]
    assert min(cores) >= min_frames and max(cores) - min(cores) <= 1


@pytest.fixture
def chunky(s3, monkeypatch):
    """The chunkable test stage registered; an endpoint running one job at a time whose
    answers are kept for inspection."""
    monkeypatch.setitem(REGISTRY, "frames", FRAMES)
    answers: list[dict] = []

    def handle(job, report, cancel):
        answer = handler.handle(job, report, cancel)
        answers.append(answer)
        return answer

    with LocalEndpoint(workers=1, handle=handle) as server:
        use_endpoint(server, monkeypatch)
        yield server, answers


def plate_shot(clips, tmp_path: Path, frames: int) -> tuple[Path, Path]:
    clip, shot = clips(frames=frames), tmp_path / "shot"
    result = pipeline.run(
        pipeline.RunRequest(clip=clip, shot=shot), load_settings(), lambda e: None
    )
    assert result.status == "ok"
    return clip, shot


def test_a_long_plate_fans_out_into_chunk_jobs_stitched_in_order(chunky, clips, tmp_path, cli):
    _server, answers = chunky
    clip, shot = plate_shot(clips, tmp_path, 24)
    result = cli(
        "run", clip, "--shot", shot, "--stages", "frames", "--backend", "runpod-serverless",
        "--max-workers", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # Three chunk jobs; none of them made a stage record on the worker.
    assert len(answers) == 3
    assert all(a["records"] == [] and len(a["chunks"]) == 1 for a in answers)
    assert sorted(tuple(a["chunks"][0]["frames"]) for a in answers) == [
        (1001, 1008),
        (1007, 1016),
        (1015, 1024),
    ]
    marks = sorted((shot / "marks").iterdir())
    assert [p.name for p in marks] == [f"marks.{n}.txt" for n in range(1001, 1025)]
    owners = [p.read_text() for p in marks]
    assert owners == ["1001-1008"] * 6 + ["1007-1016"] * 8 + ["1015-1024"] * 10
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["frames"]
    assert record.status == "done" and len(record.stats["chunks"]) == 3
    assert len(record.outputs) == 24 and not list((shot / ".staging").iterdir())


def test_an_interrupted_fan_out_resumes_the_chunks_it_finished(chunky, clips, tmp_path):
    server, answers = chunky
    clip, shot = plate_shot(clips, tmp_path, 24)
    request = pipeline.RunRequest(
        clip=clip, shot=shot, stages=["frames"], backend="runpod-serverless"
    )
    settings = load_settings(max_workers=3)
    cancel = threading.Event()

    def on_event(event: object) -> None:
        # The endpoint runs one job at a time: stop once the first chunk is back.
        if not isinstance(event, StageEvent) and answers:
            cancel.set()

    with pytest.raises(Cancelled):
        pipeline.run(request, settings, on_event, cancel)
    assert all(job.returned.wait(10) for job in server.jobs.values())
    chunks_root = next((shot / ".staging").glob("frames-*")) / ".chunks"
    finished = sorted(p.name for p in chunks_root.iterdir() if (p / ".complete.json").is_file())
    assert 1 <= len(finished) < 3
    before = len(answers)

    assert pipeline.run(request, settings, lambda e: None).status == "ok"
    assert len(answers) - before == 3 - len(finished)  # only the missing chunks ran again
    assert len(list((shot / "marks").iterdir())) == 24


def test_a_short_plate_runs_as_one_job(chunky, clips, tmp_path):
    _server, answers = chunky
    clip, shot = plate_shot(clips, tmp_path, 4)
    request = pipeline.RunRequest(
        clip=clip, shot=shot, stages=["frames"], backend="runpod-serverless"
    )
    assert pipeline.run(request, load_settings(max_workers=8), lambda e: None).status == "ok"
    assert len(answers) == 1 and answers[0]["chunks"] == []
    assert [r["stage"] for r in answers[0]["records"]] == ["frames"]
