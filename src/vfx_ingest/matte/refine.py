"""One roto object's matte over a frame range: trimap, VitMatte on the band, temporal
filter, and (above the internal size) guided upsampling to the plate.

Frames stream: the caller hands (index, plate, mask) in order and gets (index, alpha) back
for the frames it wants, at most ``2 * radius`` frames later. Alpha is straight, float32,
at the plate's size; pixels the plate-size trimap calls known are exactly 0 or 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .guided import guided_upsample, luma
from .temporal import Sample, Window
from .trimap import UNKNOWN, known_alpha, make_trimap
from .vitmatte import VitMatteRunner


@dataclass(frozen=True)
class RefineOptions:
    band: int  # unknown band, plate pixels each side of the mask's edge
    max_internal_size: int  # longest side the network works at
    radius: int  # temporal filter: frames each side (0: off)


def internal_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """The network's working size: the plate's, or scaled so its longest side fits."""
    scale = min(1.0, max_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def as_unit(image: np.ndarray) -> np.ndarray:
    """Float32 RGB 0..1 of a plate frame (8/16-bit code values, or float already)."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / float(np.iinfo(image.dtype).max)
    return image.astype(np.float32, copy=False)


@dataclass
class _Held:
    image: np.ndarray  # the plate frame, as read
    trimap: torch.Tensor  # at the plate's size


class Refiner:
    """The stages of one object's matte, frame by frame (see the module's docstring)."""

    def __init__(self, runner: VitMatteRunner, options: RefineOptions, device: str) -> None:
        self.runner = runner
        self.options = options
        self.device = device

    def _image(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(as_unit(image)).to(self.device).permute(2, 0, 1)

    def sample(self, image: np.ndarray, mask: np.ndarray) -> tuple[_Held, Sample]:
        """The frame's plate-size trimap, and its network-size alpha (the band scaled with
        the image when the plate is larger than the internal size)."""
        full = self._image(image)
        mask_t = torch.from_numpy(mask).to(self.device)
        trimap = make_trimap(mask_t, self.options.band)
        height, width = mask.shape
        size = internal_size(height, width, self.options.max_internal_size)
        small, small_trimap = full, trimap
        if size != (height, width):
            small = F.interpolate(full[None], size=size, mode="area")[0]
            coverage = F.interpolate(mask_t[None, None].float(), size=size, mode="area")[0, 0]
            band = max(1, round(self.options.band * size[0] / height))
            small_trimap = make_trimap(coverage > 0.5, band)
        sample = Sample(
            alpha=self.runner(small, small_trimap), image=small, unknown=small_trimap == UNKNOWN
        )
        return _Held(image, trimap), sample

    def finish(self, held: _Held, sample: Sample, alpha: torch.Tensor) -> np.ndarray:
        """The plate-size alpha: known pixels from the plate-size trimap, the band from the
        filtered ``alpha`` (guided up to the plate when computed smaller)."""
        if alpha.shape != held.trimap.shape:
            alpha = guided_upsample(alpha, luma(sample.image), luma(self._image(held.image)))
        trimap = held.trimap
        result = torch.where(trimap == UNKNOWN, alpha.clamp(0.0, 1.0), known_alpha(trimap))
        return result.cpu().numpy()

    def run(
        self,
        frames: Iterable[tuple[int, np.ndarray, np.ndarray]],
        computed: tuple[int, int],
        wanted: tuple[int, int],
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``frames``: (index, plate, bool mask) for every index in ``computed`` (the
        clip's frames within ``radius`` of ``wanted``), in order; yields (index, alpha,
        plate) for each index in ``wanted``."""
        window = Window(self.options.radius, computed, wanted)
        held: dict[int, tuple[_Held, Sample]] = {}
        for index, image, mask in frames:
            held[index] = self.sample(image, mask)
            for done, alpha in window.push(index, held[index][1]):
                yield done, self.finish(*held[done], alpha), held[done][0].image
                for old in [k for k in held if k <= done - self.options.radius]:
                    del held[old]
