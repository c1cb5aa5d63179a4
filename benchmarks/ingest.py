"""Ingest throughput: `vfx-ingest run --stages ingest` against the `ffmpeg` CLI writing the
same PNG sequence from the same clip, in the same run.

The clip is 240 frames of 1280x720 H.264 rendered from our synthetic courtyard (textured,
handheld camera, sensor noise: film-like detail, which is what makes PNG encoding slow).
Both tools are timed end to end as commands (process start included), alternating, and the
median of --repeats is reported; then every frame pair is compared pixel by pixel.

Needs Debian's ffmpeg (`apt-get install ffmpeg`), for this benchmark only.

    python benchmarks/ingest.py [--repeats 3] [--frames 240]

Goal (issue 2): our throughput >= 1.5x ffmpeg's, max abs pixel difference <= 2 levels.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagecodecs
import numpy as np

# The synthetic renderer is test material (tests/support/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CACHE = Path(__file__).resolve().parent / ".cache"
GOAL_RATIO = 1.5
GOAL_DIFF = 2


def make_clip(frames: int) -> Path:
    """Render (once, then cached) the benchmark clip."""
    from support.synthetic import render_clip

    path = CACHE / f"courtyard-720p-{frames}.mp4"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        print(f"rendering {path.name} (once) ...", flush=True)
        render_clip(
            path.with_suffix(".tmp.mp4"),
            path="handheld",
            frames=frames,
            width=1280,
            height=720,
            supersample=1,
            crf=18,
            seed=7,
        )
        path.with_suffix(".tmp.mp4").rename(path)
    return path


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=240)
    args = parser.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("ffmpeg not found: apt-get install ffmpeg (needed for the baseline only)")
    ours_cli = shutil.which("vfx-ingest") or str(Path(sys.executable).with_name("vfx-ingest"))
    clip = make_clip(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours_shot, ff_dir = work / "ours", work / "ffmpeg"
        ours_cmd = [
            ours_cli,
            "run",
            str(clip),
            "--stages",
            "ingest",
            "--shot",
            str(ours_shot),
            "--force",
            "--quiet",
        ]
        ff_cmd = [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-start_number",
            "1001",
            str(ff_dir / "plate.%04d.png"),
        ]
        ours_t, ff_t = [], []
        for _ in range(args.repeats):
            shutil.rmtree(ff_dir, ignore_errors=True)
            ff_dir.mkdir()
            ff_t.append(timed(ff_cmd))
            ours_t.append(timed(ours_cmd))
        ours_s, ff_s = statistics.median(ours_t), statistics.median(ff_t)
        ours_files = sorted((ours_shot / "plate").glob("plate.*.png"))
        ff_files = sorted(ff_dir.glob("plate.*.png"))
        assert [p.name for p in ours_files] == [p.name for p in ff_files], "frame lists differ"
        diff = max(
            int(np.abs(imagecodecs.imread(a).astype(int) - imagecodecs.imread(b).astype(int)).max())
            for a, b in zip(ours_files, ff_files, strict=True)
        )
        ours_mb = sum(p.stat().st_size for p in ours_files) / 1e6
        ff_mb = sum(p.stat().st_size for p in ff_files) / 1e6
    n = len(ours_files)
    print(f"clip: {clip.name}, {n} frames 1280x720, median of {args.repeats} runs")
    print(f"  ffmpeg CLI  {ff_s:6.2f} s  {n / ff_s:6.1f} fps  {ff_mb:7.1f} MB of PNG")
    print(f"  vfx-ingest  {ours_s:6.2f} s  {n / ours_s:6.1f} fps  {ours_mb:7.1f} MB of PNG")
    print(f"  throughput ratio (ours / ffmpeg): {ff_s / ours_s:.2f}x  (goal >= {GOAL_RATIO}x)")
    print(f"  max abs pixel difference: {diff} levels  (goal <= {GOAL_DIFF})")


if __name__ == "__main__":
    main()
