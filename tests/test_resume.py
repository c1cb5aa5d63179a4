"""Interrupted runs: nothing partial looks complete, and the next run resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import OpenEXR
import pytest

from vfx_ingest import cache, pipeline
from vfx_ingest.config import load_settings
from vfx_ingest.job import ProgressEvent, StageEvent
from vfx_ingest.manifest import Manifest
from vfx_ingest.stages import get_stage
from vfx_ingest.stages.base import Cancelled


def staged(shot: Path, ext: str) -> list[Path]:
    """Finished frames in the staging area (temporary files start with a dot)."""
    return sorted((shot / ".staging").glob(f"ingest-*/plate/plate.*.{ext}"))


def test_cancel_keeps_staged_frames_and_the_next_run_resumes(clips, tmp_path):
    clip, shot = clips(frames=24), tmp_path / "shot"
    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.done >= 5:
            cancel.set()

    request = pipeline.RunRequest(clip=clip, shot=shot, params={"ingest": {"workers": 1}})
    with pytest.raises(Cancelled):
        pipeline.run(request, load_settings(), on_event, cancel)
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert record.status == "interrupted" and "interrupted" in (record.error or "")
    assert not (shot / "plate").exists(), "a partial plate must not look complete"
    done_before = len(staged(shot, "png"))
    assert 5 <= done_before < 24

    result = pipeline.run(request, load_settings(), lambda e: None)
    assert result.status == "ok"
    stats = result.records[0].stats
    assert stats["resumed"] == done_before and stats["encoded"] == 24 - done_before
    assert len(list((shot / "plate").iterdir())) == 24
    assert not staged(shot, "png")


def start_exr_ingest(clip: Path, shot: Path, *extra: str) -> tuple[list[str], subprocess.Popen]:
    """Start a slow ingest (EXR, one encoder thread) in a subprocess; return once it has
    written a few frames, so that the test can stop it mid-stage."""
    args = [
        sys.executable,
        "-m",
        "vfx_ingest",
        "run",
        str(clip),
        "--shot",
        str(shot),
        "--plate-format",
        "exr",
        "--workers",
        "1",
        *extra,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(staged(shot, "exr")) < 4 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        time.sleep(0.02)
    return args, proc


def test_killed_run_leaves_no_complete_looking_pass_and_resumes(clips, tmp_path):
    """SIGKILL mid-stage (no cleanup at all), then run again."""
    clip = clips("big.mp4", frames=48, width=1280, height=720)
    shot = tmp_path / "shot"
    args, proc = start_exr_ingest(clip, shot, "-q")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    record = json.loads((shot / "shot.json").read_text())["stages"]["ingest"]
    assert record["status"] == "running"
    assert not (shot / "plate").exists()
    survivors = staged(shot, "exr")
    assert survivors and len(survivors) < 48
    for path in survivors:  # every file that made it is whole (written, then renamed)
        with OpenEXR.File(str(path)) as exr:
            assert exr.channels()["RGB"].pixels.shape == (720, 1280, 3)

    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == "ok"
    assert result["records"][0]["stats"]["resumed"] >= len(survivors)
    assert len(list((shot / "plate").glob("*.exr"))) == 48
    assert not list((shot / "plate").glob(".*"))


def test_failed_rerun_keeps_the_earlier_pass_and_its_record(cli, clips, tmp_path):
    clip, shot = clips(frames=12), tmp_path / "shot"
    request = pipeline.RunRequest(clip=clip, shot=shot)
    first = pipeline.run(request, load_settings(), lambda e: None).records[0]
    before = {p.name: p.read_bytes() for p in (shot / "plate").iterdir()}
    cancel = threading.Event()
    cancel.set()
    forced = pipeline.RunRequest(clip=clip, shot=shot, force=True, params={"ingest": {"every": 2}})
    with pytest.raises(Cancelled):
        pipeline.run(forced, load_settings(), lambda e: None, cancel)
    assert {p.name: p.read_bytes() for p in (shot / "plate").iterdir()} == before

    # The stopped attempt is recorded, and so is the pass that is still in place.
    failed = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert failed.status == "interrupted" and failed.params["every"] == 2
    assert failed.last_good is not None
    assert failed.last_good.output_digest == first.output_digest
    # Later stages read that pass, so it is their input while the failed attempt stands.
    saved = Manifest.model_validate_json((shot / "shot.json").read_text())
    assert cache.input_digests(get_stage("depth"), saved) == {"plate": first.output_digest}
    shown = cli("status", shot)
    assert shown.exit_code == 0
    assert "is kept" in " ".join(shown.stdout.split()), shown.stdout
    assert "interrupted" in shown.stdout

    # So the next plain run finds that pass cached instead of redoing it.
    events: list[object] = []
    again = pipeline.run(request, load_settings(), events.append).records[0]
    assert [e.status for e in events if isinstance(e, StageEvent)] == ["cached"]
    assert again.output_digest == first.output_digest
    restored = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert restored.status == "done" and restored.last_good is None
    assert restored.cache_key == first.cache_key


def test_sigterm_records_the_stage_as_interrupted(clips, tmp_path):
    clip = clips("big.mp4", frames=48, width=1280, height=720)
    shot = tmp_path / "shot"
    _, proc = start_exr_ingest(clip, shot)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    record = json.loads((shot / "shot.json").read_text())["stages"]["ingest"]
    assert record["status"] == "interrupted" and "interrupted" in record["error"]
