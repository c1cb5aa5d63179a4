"""Estimate accuracy: run the local backend on clips of three sizes, calibrate the estimate
from one, report its error on the other two.

The clips are synthetic courtyard renders (handheld path, sensor noise) at 320x180,
640x360 and 1280x720. Every clip is ingested --repeats times through the real pipeline
(the local backend, in-process) and the median stage wall time is its measured figure. The
calibration clip's runs are put into an empty history; the estimate for each other clip is
then compared with its measured time. The baseline, from the same run, is the uncalibrated
(seeded) estimate's error on the same clips.

    python benchmarks/cost_accuracy.py [--repeats 5] [--frames 48] [--calibrate 640x360]

Goal (issue 8): calibrated estimate within 25% of the measured time on the other two clips.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

# The synthetic renderer is test material (tests/support/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CACHE = Path(__file__).resolve().parent / ".cache"
SIZES = ((320, 180), (640, 360), (1280, 720))
GOAL = 0.25


def make_clip(width: int, height: int, frames: int) -> Path:
    """Render (once, then cached) one benchmark clip."""
    from support.synthetic import render_clip

    path = CACHE / f"cost-handheld-{width}x{height}-{frames}.mp4"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        print(f"rendering {path.name} (once) ...", flush=True)
        tmp = path.with_suffix(".tmp.mp4")
        render_clip(
            tmp, path="handheld", frames=frames, width=width, height=height, supersample=1, seed=11
        )
        tmp.rename(path)
    return path


def measure(clip: Path, repeats: int, work: Path, history_db: Path) -> list[float]:
    """Ingest wall times of ``repeats`` forced runs; the runs land in ``history_db``."""
    from vfx_ingest import pipeline
    from vfx_ingest.config import load_settings

    settings = load_settings(cost={"history_db": history_db})
    walls = []
    for _ in range(repeats):
        request = pipeline.RunRequest(clip=clip, shot=work / clip.stem, force=True)
        result = pipeline.run(request, settings, lambda event: None)
        walls.append(result.records[0].wall_s)
    return walls


def estimate(clip: Path, history_db: Path) -> tuple[float, str]:
    from vfx_ingest.config import load_settings
    from vfx_ingest.cost.estimate import Estimator, clip_plan
    from vfx_ingest.stages import get_stage

    specs = [get_stage("ingest")]
    estimator = Estimator(load_settings(cost={"history_db": history_db}))
    report = estimator.report(clip_plan(clip, specs, {}), specs, backends=["local"])
    (row,) = report.rows
    return row.stages[0].seconds, row.stages[0].basis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--calibrate", default="640x360", choices=[f"{w}x{h}" for w, h in SIZES])
    args = parser.parse_args()
    clips = {f"{w}x{h}": make_clip(w, h, args.frames) for w, h in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        calibration_db = work / "calibration.sqlite"
        empty_db = work / "empty.sqlite"
        measured = {}
        for size, clip in clips.items():
            db = calibration_db if size == args.calibrate else work / f"{size}.sqlite"
            walls = measure(clip, args.repeats, work, db)
            measured[size] = statistics.median(walls)
            spread = ", ".join(f"{w:.2f}" for w in walls)
            print(f"{size}: median {measured[size]:.3f} s over {args.repeats} runs ({spread})")
        print(f"calibrated from {args.calibrate} ({args.frames} frames each)")
        worst = 0.0
        for size, clip in clips.items():
            if size == args.calibrate:
                continue
            calibrated, basis = estimate(clip, calibration_db)
            seeded, _ = estimate(clip, empty_db)
            error = abs(calibrated - measured[size]) / measured[size]
            seed_error = abs(seeded - measured[size]) / measured[size]
            worst = max(worst, error)
            print(
                f"  {size}: measured {measured[size]:.3f} s, estimate {calibrated:.3f} s "
                f"({basis}) error {error:.0%}; seeded estimate {seeded:.3f} s error "
                f"{seed_error:.0%}"
            )
    verdict = "within" if worst <= GOAL else "outside"
    print(f"worst calibrated error: {worst:.0%} ({verdict} the {GOAL:.0%} goal)")


if __name__ == "__main__":
    main()
