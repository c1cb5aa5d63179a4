"""The long-clip scheme without a network: window plan, alignment chain, cross-fades, chunks.

Predictions here are made up so the right answer is known: every window predicts the same
ground truth under its own scale and shift (what an affine-invariant model does), so a
correct alignment chain recovers the truth in the first window's scale exactly.
"""

from __future__ import annotations

import pytest
import torch

from vfx_ingest.depth.align import (
    IDENTITY,
    Affine,
    ScaleShiftFit,
    crossfade_weights,
    fit_scale_shift,
)
from vfx_ingest.depth.sizing import network_size
from vfx_ingest.depth.windows import (
    WINDOW,
    WindowAligner,
    covering_windows,
    window_frames,
    window_span,
    window_starts,
)


def test_window_plan_follows_the_reference_layout() -> None:
    assert window_starts(1) == [0]
    assert window_starts(40) == [0, 22]
    assert window_starts(100) == [0, 22, 44, 66, 88]
    assert window_frames(0, 40) == list(range(32))
    # Later windows: the clip's first frame, the frame 22 back from its anchor slot, the
    # 8 frames before the new ones, then 22 new frames; clamped to the last frame.
    assert window_frames(22, 40) == [0, 12, *range(24, 40), *[39] * 14]
    assert window_frames(44, 100) == [0, 34, *range(46, 76)]
    assert window_frames(0, 5) == [0, 1, 2, 3, 4] + [4] * 27


@pytest.mark.parametrize(("count", "windows"), [(32, 1), (33, 2), (54, 2), (55, 3)])
def test_a_window_runs_only_when_it_has_new_frames(count: int, windows: int) -> None:
    # The reference would also run a window of nothing but the repeated last frame.
    starts = window_starts(count)
    assert len(starts) == windows
    assert all(s + 10 < count for s in starts[1:])
    spans = [window_span(s, count) for s in starts]
    covered = set().union(*(range(a, b + 1) for a, b in spans))
    assert covered == set(range(count))


def test_covering_windows_for_chunks() -> None:
    assert covering_windows(100, 0, 99) == range(5)
    assert covering_windows(100, 0, 20) == range(1)
    assert covering_windows(100, 30, 50) == range(3)  # window 0 reaches 31, window 2 46
    assert covering_windows(100, 60, 99) == range(2, 5)


def truth(count: int, size: tuple[int, int] = (6, 5)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    return 1.0 + torch.rand((count, *size), generator=gen) * 4.0


def predict(frames: torch.Tensor, count: int, start: int, affine: Affine) -> torch.Tensor:
    return torch.stack([affine.apply(frames[i]) for i in window_frames(start, count)])


AFFINES = [Affine(1.0, 0.0), Affine(2.5, -0.5), Affine(0.4, 3.0), Affine(1.7, 1.0)]


@pytest.mark.parametrize("count", [5, 40, 90])
def test_alignment_chain_recovers_one_scale(count: int) -> None:
    frames = truth(count)
    aligner = WindowAligner(count)
    out = {}
    for k, start in enumerate(aligner.window_starts):
        for f in aligner.push(predict(frames, count, start, AFFINES[k])):
            out[f.index] = f.depth
    assert aligner.finished
    assert sorted(out) == list(range(count))  # each frame once, in order
    torch.testing.assert_close(torch.stack([out[i] for i in range(count)]), frames)
    expected = [(a.scale, a.shift) for a in AFFINES[: len(aligner.affines)]]
    for got, (scale, shift) in zip(aligner.affines[1:], expected[1:], strict=True):
        assert got.scale == pytest.approx(1 / scale)
        assert got.shift == pytest.approx(-shift / scale)


def test_crossfade_blends_the_shared_frames_linearly() -> None:
    count = 40
    aligner = WindowAligner(count, metric=True)  # metric: no refit, so the blend shows
    first = list(aligner.push(torch.full((WINDOW, 2, 2), 1.0)))
    assert [f.index for f in first] == list(range(24))  # 24..31 wait for window 2
    second = {f.index: f.depth for f in aligner.push(torch.full((WINDOW, 2, 2), 3.0))}
    assert sorted(second) == list(range(24, 40))
    blended = [second[i][0, 0].item() for i in range(24, 32)]
    assert blended == pytest.approx([1 + 2 * w for w in crossfade_weights(8)])
    assert second[35][0, 0].item() == 3.0


def test_relative_predictions_are_clamped_at_zero() -> None:
    count = 40
    aligner = WindowAligner(count)
    ramp = torch.linspace(0.0, 1.0, 4).reshape(2, 2)
    list(aligner.push(torch.stack([ramp] * WINDOW)))
    # The anchors fit x/2 + 0.75; the other frames, far below, would map to -0.75.
    window = torch.stack([ramp * 2 - 1.5] * 2 + [torch.full((2, 2), -3.0)] * (WINDOW - 2))
    out = list(aligner.push(window))
    assert aligner.affines[1] == Affine(pytest.approx(0.5), pytest.approx(0.75))
    assert all(f.depth.min() == 0 for f in out)


@pytest.mark.parametrize(("first", "last"), [(0, 30), (25, 60), (50, 89), (70, 75)])
def test_a_chunk_yields_its_frames_in_the_clips_scale(first: int, last: int) -> None:
    count = 90
    frames = truth(count)
    aligner = WindowAligner(count, first=first, last=last)
    covering = list(covering_windows(count, first, last))
    # Past the first window, a chunk also runs it: its frame-0 prediction anchors the scale.
    assert aligner.windows == ([] if covering[0] == 0 else [0]) + covering
    out = {}
    for start, k in zip(aligner.window_starts, aligner.windows, strict=True):
        for f in aligner.push(predict(frames, count, start, AFFINES[k])):
            out[f.index] = f.depth
    assert sorted(out) == list(range(first, last + 1))
    head = AFFINES[0]
    expected = torch.stack([frames[i] * head.scale + head.shift for i in range(first, last + 1)])
    torch.testing.assert_close(torch.stack([out[i] for i in sorted(out)]), expected)


def test_a_metric_chunk_runs_only_its_own_windows() -> None:
    aligner = WindowAligner(90, metric=True, first=50, last=89)
    assert aligner.windows == [1, 2, 3]  # window 1 reaches frame 53


def test_aligner_rejects_misuse() -> None:
    aligner = WindowAligner(10)
    with pytest.raises(ValueError, match="32 frames"):
        list(aligner.push(torch.zeros(8, 2, 2)))
    list(aligner.push(torch.zeros(WINDOW, 2, 2)))
    with pytest.raises(ValueError, match="already"):
        list(aligner.push(torch.zeros(WINDOW, 2, 2)))
    with pytest.raises(ValueError, match="frames 5-12 outside a clip of 10"):
        WindowAligner(10, first=5, last=12)


def test_scale_shift_fit() -> None:
    gen = torch.Generator().manual_seed(1)
    pred = [torch.rand(8, 9, generator=gen) for _ in range(3)]
    target = [p * 3.25 - 0.5 for p in pred]
    fitted = fit_scale_shift(pred, target)
    assert fitted.scale == pytest.approx(3.25) and fitted.shift == pytest.approx(-0.5)
    # A flat prediction has no scale: left as it is rather than blown up.
    assert fit_scale_shift([torch.ones(4, 4)], [torch.rand(4, 4)]) == IDENTITY
    assert ScaleShiftFit().solve() == IDENTITY
    with pytest.raises(ValueError, match=r"prediction \(2, 2\) vs target \(3, 3\)"):
        ScaleShiftFit().add(torch.ones(2, 2), torch.ones(3, 3))


def test_affine_composition_and_crossfade_weights() -> None:
    a, b = Affine(2.0, 1.0), Affine(0.5, -3.0)
    x = torch.tensor([4.0, 10.0])
    torch.testing.assert_close(a.then(b).apply(x), b.apply(a.apply(x)))
    assert crossfade_weights(1) == [1.0]
    assert crossfade_weights(5) == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    ("height", "width", "input_size", "expected"),
    [
        (1080, 1920, 518, (518, 924)),  # HD: the short side at 518, the long side rounded
        (1920, 1080, 518, (924, 518)),  # portrait
        (518, 518, 518, (518, 518)),
        (360, 640, 42, (42, 70)),
        (100, 400, 518, (224, 896)),  # 4:1: input size shrunk to keep the long side bounded
        (48, 64, 28, (28, 42)),
    ],
)
def test_network_size(height: int, width: int, input_size: int, expected: tuple) -> None:
    got = network_size(height, width, input_size)
    assert got == expected
    assert got[0] % 14 == 0 and got[1] % 14 == 0


def test_network_size_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="not a positive multiple of 14"):
        network_size(100, 100, 500)
    with pytest.raises(ValueError, match="empty frame size 100x0"):
        network_size(0, 100, 518)
