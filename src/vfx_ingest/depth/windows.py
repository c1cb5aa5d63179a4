"""The long-clip scheme of Video Depth Anything: overlapping 32-frame windows joined by
keyframes, a scale/shift fit and a short cross-fade.

The network sees at most 32 frames at a time (its temporal position table has 32 rows).
Windows advance by 22 frames; the first 10 inputs of every window after the first are
frames the previous window already saw: the clip's first frame and a frame 22 frames back
(two far keyframes that anchor the scale over the whole clip), then the 8 frames just
before the window's new ones. Each window's prediction is fitted (scale and shift, least
squares over all pixels) onto the already-aligned prediction of the two far keyframes,
and its 8 near frames are cross-faded into the previous window's. Metric models skip the
fit: their outputs are in metres already.

Frame ``i`` of window ``k`` (starting at ``22k``) is clip frame::

    window 0:  0, 1, ..., 31
    window k:  0, 22k-10, 22k+2, ..., 22k+31

clamped to the last frame (short clips and the last window repeat it). As every input
frame is a clip frame, the encoder's per-frame features can be shared between windows:
each clip frame is encoded once (see ``inference``).

A frame-range chunk (fan-out) runs the windows of the whole clip's grid that reach its
range, so its raw predictions equal a single pass's; see ``WindowAligner`` for its scale.

One deliberate difference from the reference: a window is run only when it holds at least
one frame no earlier window saw. The reference also runs a final window made only of
repeated last frames, whose cross-fade then pulls the clip's last frames towards a
prediction of a frozen image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .align import IDENTITY, Affine, blend, crossfade_weights, fit_scale_shift

if TYPE_CHECKING:
    import torch
    from torch import Tensor

WINDOW = 32  # frames per network pass
OVERLAP = 10  # inputs of a window that the previous window also had
STEP = WINDOW - OVERLAP
CROSSFADE = 8  # of the overlap, frames blended between windows (the rest anchor the fit)
ANCHORS = OVERLAP - CROSSFADE  # far keyframes: the clip's first frame and one 22 back
ANCHOR_POSITION = 12  # a window's position whose frame becomes the next window's anchor


def window_starts(count: int) -> list[int]:
    """First new clip frame of each window for a clip of ``count`` frames."""
    if count < 1:
        return []
    return [0, *(s for s in range(STEP, count, STEP) if s + OVERLAP < count)]


def window_frames(start: int, count: int) -> list[int]:
    """The clip frame at each of the 32 positions of the window starting at ``start``."""
    if start == 0:
        frames = list(range(WINDOW))
    else:
        frames = [0, start - STEP + ANCHOR_POSITION, *range(start + ANCHORS, start + WINDOW)]
    return [min(i, count - 1) for i in frames]


def window_span(start: int, count: int) -> tuple[int, int]:
    """First and last clip frame a window's prediction reaches in the output (its far
    keyframes are inputs only)."""
    first = 0 if start == 0 else start + ANCHORS
    return first, min(start + WINDOW, count) - 1


def covering_windows(count: int, first: int, last: int) -> range:
    """Indices of the windows whose predictions reach clip frames ``first``..``last``."""
    starts = window_starts(count)
    hits = [
        k
        for k, s in enumerate(starts)
        if window_span(s, count)[0] <= last and window_span(s, count)[1] >= first
    ]
    return range(hits[0], hits[-1] + 1) if hits else range(0)


def chunk_windows(count: int, first: int, last: int, *, metric: bool = False) -> list[int]:
    """The windows a run over clip frames ``first``..``last`` takes, in order: those
    reaching the range and, for a chunk past the first window, the first window too (its
    prediction of the clip's first frame anchors the scale; metric models need no anchor)."""
    covering = list(covering_windows(count, first, last))
    reference = [] if covering[0] == 0 or metric else [0]
    return reference + covering


def window_inputs(count: int, windows: list[int]) -> list[int]:
    """The clip frames the given windows read, in order, each once."""
    starts = window_starts(count)
    return sorted({i for k in windows for i in window_frames(starts[k], count)})


def window_plan(count: int, first: int, last: int, *, metric: bool) -> dict[str, Any]:
    """What identifies a run of the scheme: clip length, output range, metric or not."""
    return {"count": count, "first": first, "last": last, "metric": metric}


@dataclass
class AlignedFrame:
    index: int  # clip frame
    depth: Tensor  # [H, W], final


@dataclass
class WindowAligner:
    """Consumes windows' raw predictions in order; yields clip frames once final.

    ``first``..``last`` (default: the whole clip) limit the output to a frame-range chunk.
    Then only the windows reaching that range run, on the whole clip's window grid, so
    their raw predictions are the ones a single pass makes. What a chunk cannot have is the
    chain of fits from the clip's start; it keeps the chain's fixed end instead: the first
    window runs too (when the chunk does not include it), and the chunk's first window is
    fitted on the clip's first frame alone. Each later window then fits on both anchors as
    in a single pass, so a chunk lands close to the single pass's scale; ``stitch`` fits
    the small remainder on the overlap. Metric models need no fit, hence no first window.

    Holds at most the two anchor predictions and the 8 frames awaiting the next window's
    cross-fade, so memory does not grow with the clip.
    """

    count: int
    metric: bool = False
    first: int = 0
    last: int | None = None
    starts: list[int] = field(init=False)
    windows: list[int] = field(init=False)
    done: int = field(init=False, default=0)  # windows consumed
    emitted: int = field(init=False, default=0)  # next clip frame to yield
    anchors: list[Tensor] = field(init=False, default_factory=list)
    pending: dict[int, Tensor] = field(init=False, default_factory=dict)
    affines: list[Affine] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.last is None:
            self.last = self.count - 1
        if not 0 <= self.first <= self.last < self.count:
            raise ValueError(f"frames {self.first}-{self.last} outside a clip of {self.count}")
        self.starts = window_starts(self.count)
        self.windows = chunk_windows(self.count, self.first, self.last, metric=self.metric)
        self.emitted = self.first

    @property
    def window_starts(self) -> list[int]:
        """Starts of the windows this aligner takes, in order."""
        return [self.starts[k] for k in self.windows]

    @property
    def finished(self) -> bool:
        return self.done == len(self.windows)

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to go on from here: the windows consumed, the frames
        emitted, and the predictions the next windows still use (on the CPU)."""
        return {
            "plan": self.plan,
            "done": self.done,
            "emitted": self.emitted,
            "anchors": [a.cpu() for a in self.anchors],
            "pending": {index: d.cpu() for index, d in self.pending.items()},
            "affines": [(a.scale, a.shift) for a in self.affines],
        }

    def restore(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        """Continue from ``state()`` of an aligner over the same clip and range."""
        if state["plan"] != self.plan:
            raise ValueError(f"a saved state of {state['plan']} does not fit {self.plan}")
        self.done = state["done"]
        self.emitted = state["emitted"]
        self.anchors = [a.to(device) for a in state["anchors"]]
        self.pending = {index: d.to(device) for index, d in state["pending"].items()}
        self.affines = [Affine(scale, shift) for scale, shift in state["affines"]]

    @property
    def plan(self) -> dict[str, Any]:
        """What a saved state is only valid for: the clip's length and the range."""
        assert self.last is not None
        return window_plan(self.count, self.first, self.last, metric=self.metric)

    def push(self, depth: Tensor) -> Iterator[AlignedFrame]:
        """``depth``: the raw prediction [32, H, W] of the next window."""
        if self.finished:
            raise ValueError(f"all {len(self.windows)} windows were already aligned")
        if depth.shape[0] != WINDOW:
            raise ValueError(f"a window has {WINDOW} frames, got {depth.shape[0]}")
        k = self.windows[self.done]
        start = self.starts[k]
        frames = window_frames(start, self.count)
        self.done += 1
        follows = not self.finished and self.windows[self.done] == k + 1
        if k == 0 or self.metric or not self.anchors:
            affine = IDENTITY
        else:  # on both anchors; a chunk's first window on the clip's first frame alone
            preds = [depth[p] for p in range(len(self.anchors))]
            affine = fit_scale_shift(preds, self.anchors)
        self.affines.append(affine)
        aligned: dict[int, Tensor] = {}
        # Reversed, so that a repeated last frame keeps its first (real) position; the far
        # keyframes of a later window are inputs only.
        for p in reversed(range(0 if start == 0 else ANCHORS, WINDOW)):
            aligned[frames[p]] = affine.apply(depth[p])
        for j, weight in enumerate(crossfade_weights(CROSSFADE)):
            index = frames[ANCHORS + j]
            if index in self.pending:
                aligned[index] = blend(self.pending.pop(index), aligned[index], weight)
        # What is kept for the next window is cloned: a view would keep this whole
        # window's (or batch's) output alive.
        first_anchor = self.anchors[0] if self.anchors else depth[0].clone()
        self.anchors = [first_anchor]
        if follows:
            self.anchors.append(affine.apply(depth[ANCHOR_POSITION]).clone())
        # Frames the next window will cross-fade stay pending; the rest are final.
        final_until = window_span(start, self.count)[1] + 1
        if follows:
            final_until = self.starts[k + 1] + ANCHORS
            for index in range(final_until, min(final_until + CROSSFADE, self.count)):
                self.pending[index] = aligned[index].clone()
        assert self.last is not None
        for index in range(self.emitted, min(final_until, self.last + 1)):
            yield AlignedFrame(index, aligned[index])
        self.emitted = max(self.emitted, final_until)
