"""Resuming an interrupted RVM run: its recurrent state, saved beside the staged frames.

VitMatte needs nothing of the kind: its frames depend only on the plate and the masks, so
a resumed run recomputes the ``radius`` frames the temporal filter reads before the first
missing one and goes on (``stages/matte``). RVM's alpha depends on every frame before it
through its recurrent state, so that state is saved every ``EVERY_S`` seconds, after the
frames it has seen are on disk, into the staging folder (named by the cache key, so only
a run with the same inputs, params and model reads it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import atomic

CHECKPOINT = "matte-resume.pt"  # in the staging folder, beside the matte pass
EVERY_S = 30.0
FORMAT = 1


class Checkpoints:
    def __init__(self, staging: Path, plan: dict[str, Any]) -> None:
        """``plan``: what identifies the run's frame sequence (label, range)."""
        self.path = staging / CHECKPOINT
        self.plan = plan
        self.saved_at = time.perf_counter()

    def load(self) -> tuple[int, list[torch.Tensor]] | None:
        """(next plate index, recurrent state), or None: no checkpoint, or another's."""
        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # another torch's file, or damaged: start again
            return None
        if saved.get("format") != FORMAT or saved.get("plan") != self.plan:
            return None
        return saved["next"], saved["state"]

    def __call__(
        self, next_index: int, state: Callable[[], list[torch.Tensor]], now: float
    ) -> None:
        """Save when the last save (or the start) is ``EVERY_S`` old; the caller has
        written every frame before ``next_index``. ``state()`` is called only then (it
        copies the state off the GPU)."""
        if now - self.saved_at < EVERY_S:
            return
        saved = {"format": FORMAT, "plan": self.plan, "next": next_index, "state": state()}
        with atomic.target(self.path) as tmp:
            torch.save(saved, tmp)
        self.saved_at = now

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
