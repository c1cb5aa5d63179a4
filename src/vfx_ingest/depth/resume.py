"""Resuming an interrupted depth run: a checkpoint beside the staged frames.

Depth frames are final only in order, and each window's scale comes from the ones before,
so a resumed run cannot simply skip frames already on disk: it needs the aligner's state
(the two anchor predictions, the frames awaiting a cross-fade, the fitted scales). That
state is a few network-sized frames; it is saved every ``EVERY_S`` seconds, after the
frames it counts as written are on disk, into the stage's staging folder (whose name is
the cache key, so a checkpoint is only ever read by a run with the same inputs, params and
model). A resumed run encodes again only the keyframes the next window reads.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .. import atomic
from .exr import DepthWriter, depth_name
from .windows import WindowAligner

CHECKPOINT = "depth-resume.pt"  # in the staging folder, beside the depth pass
EVERY_S = 30.0  # seconds of work a crash may cost; a checkpoint costs a write-queue drain
FORMAT = 1


class Checkpoints:
    """Saves and loads one run's checkpoint; called by the runner after each window pass."""

    def __init__(
        self,
        staging: Path,
        writer: DepthWriter,
        numbers: list[int],
        network: tuple[int, int],
        plan: dict[str, Any],
    ) -> None:
        """``numbers``: the plate's frame numbers; ``network``: the input size (h, w);
        ``plan``: the ``WindowAligner.plan`` of this run."""
        self.path = staging / CHECKPOINT
        self.pass_dir = staging / "depth"
        self.writer = writer
        self.numbers = numbers
        self.network = list(network)
        self.plan = plan
        self.saved_at = time.perf_counter()

    def load(self) -> dict[str, Any] | None:
        """The aligner state to resume from (the writer is restored too), or None when
        there is no usable checkpoint: none, another format or plan, or frames it counts
        as written that are not on disk."""
        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint of another torch, or damaged: start again
            return None
        if saved.get("format") != FORMAT or saved.get("network") != self.network:
            return None
        aligner = saved["aligner"]
        if aligner["plan"] != self.plan:
            return None
        written = saved["writer"]["numbers"]
        if written != self.numbers[self.plan["first"] : aligner["emitted"]]:
            return None
        if not all((self.pass_dir / depth_name(n)).is_file() for n in written):
            return None
        self.writer.restore(saved["writer"])
        return aligner

    def __call__(self, aligner: WindowAligner, now: float) -> None:
        """Save a checkpoint when the last one (or the start) is ``EVERY_S`` old; ``now``
        from ``time.perf_counter``."""
        if aligner.finished or now - self.saved_at < EVERY_S:
            return
        self.writer.drain()  # the frames the state counts as emitted are on disk
        state = {
            "format": FORMAT,
            "network": self.network,
            "aligner": aligner.state(),
            "writer": self.writer.state(),
        }
        with atomic.target(self.path) as tmp:
            torch.save(state, tmp)
        self.saved_at = now

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
