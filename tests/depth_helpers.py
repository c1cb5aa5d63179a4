"""Shared by the depth tests: real frames, a deterministic-weight network, a model folder.

"Random weights" here are the VDA fixture's fill rule (``fill_like_fixture``): every tensor
of the real ``vits`` layout filled from a seeded generator, so runs are reproducible and the
network behaves like a trained one structurally (its temporal modules do mix frames).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch

from test_vda_network import fill_like_fixture
from vfx_ingest.networks.vda import VideoDepthAnything

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "courtyard.mp4"


@cache
def courtyard(count: int, width: int, height: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` frames of the bundled example clip (a handheld move through a
    textured courtyard), as uint8 RGB at ``width`` x ``height``."""
    import av

    frames = []
    with av.open(str(EXAMPLE)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(frames) == count:
                break
    return tuple(frames)


@cache
def filled_network() -> VideoDepthAnything:
    return fill_like_fixture(VideoDepthAnything("vits")).eval()


class ArraySource:
    """Frames held in memory, as a ``FrameSource``."""

    def __init__(self, frames: tuple[np.ndarray, ...] | list[np.ndarray]) -> None:
        self.frames = list(frames)
        self.count = len(self.frames)
        self.height, self.width = self.frames[0].shape[:2]
        self.loads: list[int] = []

    def load(self, index: int) -> np.ndarray:
        self.loads.append(index)
        return self.frames[index]


def write_model_dir(folder: Path, filename: str = "video_depth_anything_vits.pth") -> Path:
    """A model folder as the store holds it: the official file name, our filled weights."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(filled_network().state_dict(), folder / filename)
    return folder


def write_plate(shot: Path, frames: list[np.ndarray], numbers: list[int]) -> None:
    from vfx_ingest.frames import frame_path
    from vfx_ingest.io.images import encode_png

    plate = shot / "plate"
    plate.mkdir(parents=True, exist_ok=True)
    for number, frame in zip(numbers, frames, strict=True):
        (plate / frame_path("plate", number, "png")).write_bytes(encode_png(frame))
