"""Join depth computed in frame-range chunks (fan-out over several GPUs) into one pass.

Each chunk ran the windowed inference alone over its frames, overlap included, so its
values have their own scale and shift. In frame order, each chunk is fitted (least
squares, all pixels of the frames it shares with the chunk before) onto the already
joined result, then cross-faded into it over those shared frames: the same join the
windows inside a chunk use, one level up. Metric chunks are only cross-faded.

Frames stream: at most the shared frames of two neighbouring chunks are held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import torch

from ..errors import StageFailed
from ..frames import frame_number
from .align import IDENTITY, Affine, ScaleShiftFit, blend, crossfade_weights
from .exr import PASS, VALUES_ATTR, DepthWriter, depth_name, read_depth


@dataclass
class Chunk:
    folder: Path  # the chunk job's staging folder (holding ``depth/``)
    numbers: list[int]

    def path(self, number: int) -> Path:
        return self.folder / PASS / depth_name(number)

    def read(self, number: int) -> torch.Tensor:
        return torch.from_numpy(read_depth(self.path(number))[0])

    @property
    def label(self) -> str:
        return f"{self.numbers[0]}-{self.numbers[-1]}"


def find_chunks(chunk_dirs: list[Path]) -> list[Chunk]:
    chunks = []
    for folder in chunk_dirs:
        found = (frame_number(p.name) for p in (folder / PASS).glob("depth.*.exr"))
        numbers = sorted(n for n in found if n is not None)
        if not numbers:
            raise StageFailed("a depth chunk holds no depth frames", where=str(folder))
        chunks.append(Chunk(folder, numbers))
    chunks.sort(key=lambda c: c.numbers[0])
    for before, after in pairwise(chunks):
        if after.numbers[-1] <= before.numbers[-1]:
            raise StageFailed(
                f"depth chunk {after.label} lies inside chunk {before.label}",
                fix="Chunks must advance through the clip",
            )
    return chunks


def stitch_chunks(
    chunks: list[Chunk],
    writer: DepthWriter,
    progress: Callable[[int, int], None] | None = None,
) -> list[Affine]:
    """Write the joined frames through ``writer``; return each chunk's fitted transform."""
    total = len({n for chunk in chunks for n in chunk.numbers})
    metric = writer.attributes.get(VALUES_ATTR) == "metric_depth_m"
    held: dict[int, torch.Tensor] = {}  # joined values of frames the next chunk shares
    affines: list[Affine] = []
    for k, chunk in enumerate(chunks):
        shared = [n for n in chunk.numbers if n in held]
        if k and not shared:
            raise StageFailed(
                f"depth chunk {chunk.label} shares no frame with chunk {chunks[k - 1].label}",
                fix="Chunks need overlapping frames to be joined (the stage's chunk overlap)",
            )
        affine = IDENTITY
        if k and not metric:
            fit = ScaleShiftFit()
            for number in shared:
                fit.add(chunk.read(number), held[number])
            affine = fit.solve()
        affines.append(affine)
        weights = dict(zip(shared, crossfade_weights(len(shared)), strict=True))
        next_first = chunks[k + 1].numbers[0] if k + 1 < len(chunks) else None
        keep: dict[int, torch.Tensor] = {}
        for number in chunk.numbers:
            value = affine.apply(chunk.read(number))
            if number in held:
                value = blend(held.pop(number), value, weights[number])
            if next_first is not None and number >= next_first:
                keep[number] = value
            else:
                writer.write(number, value.numpy())
                if progress is not None:
                    progress(len(writer.numbers), total)
        if held:
            raise StageFailed(
                f"depth chunk {chunk.label} lacks frame {min(held)}, which chunk "
                f"{chunks[k - 1].label} has"
            )
        held = keep
    return affines
