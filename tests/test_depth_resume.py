"""An interrupted depth run goes on from its last checkpoint, and ends as a whole run would.

Through the stage API on the same shot as ``test_depth_stage`` (90 frames, 4 windows, the
real ``vits`` layout with the fixture's weights), with a checkpoint after every window pass
(``EVERY_S = 0``) and a cancel part-way through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from test_depth_stage import (  # noqa: F401  (module fixtures: the shot, models, single pass)
    COUNT,
    NUMBERS,
    PARAMS,
    SPEC,
    context,
    depth_stack,
    models,
    relative_error,
    shot,
    single_pass,
)
from test_depth_windows import AFFINES, predict, truth
from vfx_ingest.depth import resume
from vfx_ingest.depth.windows import WindowAligner, window_inputs
from vfx_ingest.stages.base import Cancelled


def test_an_aligner_restored_from_its_state_goes_on_exactly() -> None:
    count = 90
    frames = truth(count)
    windows = [predict(frames, count, s, AFFINES[k]) for k, s in enumerate([0, 22, 44, 66])]
    whole = WindowAligner(count)
    expected = [f for w in windows for f in whole.push(w)]

    before = WindowAligner(count)
    got = [f for w in windows[:2] for f in before.push(w)]
    state = before.state()
    after = WindowAligner(count)
    after.restore(state)
    got += [f for w in windows[2:] for f in after.push(w)]
    assert [f.index for f in got] == [f.index for f in expected] == list(range(count))
    for ours, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(ours.depth, reference.depth, rtol=0, atol=0)
    assert after.affines == whole.affines

    with pytest.raises(ValueError, match="does not fit"):
        WindowAligner(count, first=30).restore(state)


def interrupted_run(root: Path, weights: dict[str, Path], name: str, stop_after: int) -> Path:
    """Run the stage until ``stop_after`` frames are reported, then cancel; return its
    staging folder (what the worker keeps for the next run)."""
    ctx = context(root, name, weights)

    def on_progress(done: int, total: int, message: str) -> None:
        if done >= stop_after:
            ctx.cancel_event.set()

    ctx.on_progress = on_progress
    with pytest.raises(Cancelled):
        SPEC.run(ctx, PARAMS)
    return ctx.staging


@pytest.fixture
def every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "EVERY_S", 0.0)


@pytest.mark.usefixtures("every_pass")
def test_a_cancelled_run_resumes_from_its_checkpoint(
    shot: Path,  # noqa: F811
    models: dict[str, Path],  # noqa: F811
    single_pass: tuple,  # noqa: F811
) -> None:
    staging = interrupted_run(shot, models, "resumed", stop_after=40)
    assert (staging / resume.CHECKPOINT).is_file()
    written = sorted(p.name for p in (staging / "depth").glob("depth.*.exr"))
    assert 40 <= len(written) < COUNT

    ctx = context(shot, "resumed", models)
    stats = SPEC.run(ctx, PARAMS.model_copy(update={"preview": True})).stats
    # The cancel came after the second window's frames (46) were reported: the run went
    # on from there, and encoded only what windows 3 and 4 read.
    assert stats["resumed_frames"] == 46 and stats["windows"] == 4
    assert stats["encoded_frames"] == len(window_inputs(COUNT, [2, 3])) < COUNT
    assert len(stats["scales"]) == 4
    assert not (staging / resume.CHECKPOINT).exists()
    ours = depth_stack(staging / "depth", NUMBERS)
    reference = depth_stack(single_pass[0], NUMBERS)
    np.testing.assert_array_equal(ours[:46], reference[:46])  # from the interrupted run
    assert relative_error(ours, reference) < 1e-5
    # Previews span the whole shot, frames of the interrupted run included.
    assert len(list((staging / "depth" / "preview").glob("*.png"))) == COUNT


@pytest.mark.usefixtures("every_pass")
def test_a_checkpoint_counting_a_missing_frame_is_not_used(
    shot: Path,  # noqa: F811
    models: dict[str, Path],  # noqa: F811
    single_pass: tuple,  # noqa: F811
) -> None:
    staging = interrupted_run(shot, models, "damaged", stop_after=40)
    (staging / "depth" / f"depth.{NUMBERS[3]}.exr").unlink()

    stats = SPEC.run(context(shot, "damaged", models), PARAMS).stats
    assert stats["resumed_frames"] == 0 and stats["encoded_frames"] == COUNT
    ours = depth_stack(staging / "depth", NUMBERS)
    np.testing.assert_array_equal(ours, depth_stack(single_pass[0], NUMBERS))
