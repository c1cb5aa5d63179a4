"""VitMatte on the unknown band only: tiles around the band, known pixels left alone.

The network sees four channels: RGB normalised with mean 0.5 / std 0.5 and the trimap
scaled to 0..1 (0, 128/255, 1), padded with zeros at the bottom and right to a multiple
of 32, as its processor does (we do it here: no torchvision). A frame is cut into a grid
of ``TILE`` px cells; only cells holding unknown pixels run, each on a crop of
``TILE + 2 * MARGIN`` px centred on them (at least ``MARGIN`` px of context all round), so
the work follows the length of the edge, not the frame's area, and memory stays that of a
few tiles at any plate size. All crops have one size and batch together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .trimap import UNKNOWN, known_alpha

TILE = 256  # cell size
MARGIN = 32  # context each side of a cell's unknown pixels, at least
DIVISOR = 32  # the backbone's input sizes are multiples of this


@dataclass(frozen=True)
class Tile:
    top: int  # the crop the network sees: position and size
    left: int
    height: int
    width: int
    # What it answers for: its cell inside the crop (top, bottom, left, right), which
    # holds all of the cell's unknown pixels.
    cell: tuple[int, int, int, int]

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


def _span(low: int, high: int, limit: int, length: int) -> tuple[int, int]:
    """Start and length of a crop of ``length`` (or the whole frame, when smaller)
    centred on [low, high), shifted inside the frame."""
    length = min(limit, length)
    return max(0, min((low + high - length) // 2, limit - length)), length


def band_tiles(unknown: torch.Tensor, tile: int = TILE, margin: int = MARGIN) -> list[Tile]:
    """The tiles covering every unknown pixel of ``unknown`` (bool, HxW): per grid cell
    holding some, a crop of ``tile + 2 * margin`` px centred on their bounding box. One
    crop size for all: the network's kernels are prepared for a shape once, and crops
    batch (a frame's tiles of many sizes ran 3x slower on the CPU than one size)."""
    height, width = unknown.shape
    size = tile + 2 * margin
    rows = unknown.any(dim=1).tolist()
    tiles = []
    for top in range(0, height, tile):
        bottom = min(top + tile, height)
        if not any(rows[top:bottom]):
            continue
        columns = unknown[top:bottom].any(dim=0).tolist()
        for left in range(0, width, tile):
            right = min(left + tile, width)
            inside = [x for x in range(left, right) if columns[x]]
            if not inside:
                continue
            ys = unknown[top:bottom, inside[0] : inside[-1] + 1].any(dim=1).nonzero()[:, 0]
            y0, crop_h = _span(top + int(ys[0]), top + int(ys[-1]) + 1, height, size)
            x0, crop_w = _span(inside[0], inside[-1] + 1, width, size)
            cell = (max(top, y0), min(bottom, y0 + crop_h), max(left, x0), min(right, x0 + crop_w))
            tiles.append(Tile(y0, x0, crop_h, crop_w, cell))
    return tiles


def network_input(image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """4xHxW: normalised RGB (3xHxW, 0..1) and the trimap scaled to 0..1."""
    return torch.cat([(image - 0.5) / 0.5, trimap[None].to(image.dtype) / 255.0])


def pad_to_divisor(batch: torch.Tensor) -> torch.Tensor:
    height, width = batch.shape[-2:]
    return F.pad(batch, (0, -width % DIVISOR, 0, -height % DIVISOR))


class VitMatteRunner:
    """Alpha for one frame from VitMatte, computed only where the trimap is unknown."""

    def __init__(
        self,
        network: Any,
        device: str,
        batch: int = 4,
        tile: int = TILE,
        margin: int = MARGIN,
        dtype: torch.dtype | None = None,
    ) -> None:
        """``dtype``: autocast to it (fp16/bf16 on CUDA), or None for plain fp32."""
        self.network = network.to(device)
        self.device = device
        self.batch = batch
        self.dtype = dtype
        self.grid = (tile, margin)
        self.tiles = 0  # tiles run so far, and their pixels: what the band saved
        self.pixels = 0

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
        """Alpha (float32, HxW) of ``image`` (3xHxW, 0..1) under ``trimap`` (uint8): the
        known pixels exactly 0 or 1, the unknown ones from the network."""
        alpha = known_alpha(trimap)
        unknown = trimap == UNKNOWN
        shapes: dict[tuple[int, int], list[Tile]] = {}
        for tile in band_tiles(unknown, *self.grid):  # crops of one size batch together
            shapes.setdefault(tile.shape, []).append(tile)
        for group in shapes.values():
            for start in range(0, len(group), self.batch):
                self._run(image, trimap, alpha, group[start : start + self.batch])
        return alpha

    def _run(
        self, image: torch.Tensor, trimap: torch.Tensor, alpha: torch.Tensor, tiles: list[Tile]
    ) -> None:
        """One network pass over same-size ``tiles``; their cells' unknown pixels into
        ``alpha``."""
        height, width = tiles[0].shape
        crops = torch.stack(
            [
                network_input(
                    image[:, t.top : t.top + height, t.left : t.left + width],
                    trimap[t.top : t.top + height, t.left : t.left + width],
                )
                for t in tiles
            ]
        )
        device = torch.device(self.device).type
        with torch.autocast(device, dtype=self.dtype, enabled=self.dtype is not None):
            predicted = self.network(pixel_values=pad_to_divisor(crops)).alphas[:, 0]
        self.tiles += len(tiles)
        self.pixels += len(tiles) * height * width
        for tile, crop in zip(tiles, predicted, strict=True):
            top, bottom, left, right = tile.cell
            piece = crop[top - tile.top : bottom - tile.top, left - tile.left : right - tile.left]
            cell = trimap[top:bottom, left:right] == UNKNOWN
            alpha[top:bottom, left:right][cell] = piece.float()[cell]
