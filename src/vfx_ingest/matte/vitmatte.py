"""VitMatte on the unknown band only: tiles around the band, known pixels left alone.

The network sees four channels: RGB normalised with mean 0.5 / std 0.5 and the trimap
scaled to 0..1 (0, 128/255, 1), padded with zeros at the bottom and right to a multiple
of 32, as its processor does (we do it here: no torchvision). A frame is cut into a grid
of ``TILE`` px cells; only cells holding unknown pixels run, each with ``MARGIN`` px of
context around it, so the work follows the length of the edge, not the frame's area. Every
crop has the same size (shifted inside the frame at its borders), so tiles batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .trimap import UNKNOWN, known_alpha

TILE = 512  # cell size: the network's training crops were 512 px
MARGIN = 64  # context each side of a cell, so its edges see what lies beyond them
DIVISOR = 32  # the backbone's input sizes are multiples of this


@dataclass(frozen=True)
class Tile:
    top: int  # the crop the network sees
    left: int
    cell: tuple[int, int, int, int]  # the cell it answers for: top, bottom, left, right


def band_tiles(unknown: torch.Tensor, tile: int = TILE, margin: int = MARGIN) -> list[Tile]:
    """The tiles covering every unknown pixel of ``unknown`` (bool, HxW)."""
    height, width = unknown.shape
    crop_h, crop_w = min(height, tile + 2 * margin), min(width, tile + 2 * margin)
    rows = unknown.any(dim=1).tolist()
    tiles = []
    for top in range(0, height, tile):
        bottom = min(top + tile, height)
        if not any(rows[top:bottom]):
            continue
        columns = unknown[top:bottom].any(dim=0).tolist()
        for left in range(0, width, tile):
            right = min(left + tile, width)
            if any(columns[left:right]):
                tiles.append(
                    Tile(
                        top=max(0, min(top - margin, height - crop_h)),
                        left=max(0, min(left - margin, width - crop_w)),
                        cell=(top, bottom, left, right),
                    )
                )
    return tiles


def network_input(image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """4xHxW: normalised RGB (3xHxW, 0..1) and the trimap scaled to 0..1."""
    return torch.cat([(image - 0.5) / 0.5, trimap[None].to(image.dtype) / 255.0])


def pad_to_divisor(batch: torch.Tensor) -> torch.Tensor:
    height, width = batch.shape[-2:]
    return F.pad(batch, (0, -width % DIVISOR, 0, -height % DIVISOR))


class VitMatteRunner:
    """Alpha for one frame from VitMatte, computed only where the trimap is unknown."""

    def __init__(self, network: Any, device: str, batch: int = 4) -> None:
        self.network = network.to(device)
        self.device = device
        self.batch = batch
        self.tiles = 0  # tiles run so far, and their pixels: what the band saved
        self.pixels = 0

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
        """Alpha (float32, HxW) of ``image`` (3xHxW, 0..1) under ``trimap`` (uint8): the
        known pixels exactly 0 or 1, the unknown ones from the network."""
        alpha = known_alpha(trimap)
        unknown = trimap == UNKNOWN
        tiles = band_tiles(unknown)
        if not tiles:
            return alpha
        full = network_input(image, trimap)
        crop_h = min(full.shape[1], TILE + 2 * MARGIN)
        crop_w = min(full.shape[2], TILE + 2 * MARGIN)
        for start in range(0, len(tiles), self.batch):
            group = tiles[start : start + self.batch]
            crops = torch.stack(
                [full[:, t.top : t.top + crop_h, t.left : t.left + crop_w] for t in group]
            )
            predicted = self.network(pixel_values=pad_to_divisor(crops)).alphas[:, 0]
            self.tiles += len(group)
            self.pixels += crops.shape[0] * crops.shape[2] * crops.shape[3]
            for tile, crop in zip(group, predicted, strict=True):
                top, bottom, left, right = tile.cell
                piece = crop[
                    top - tile.top : bottom - tile.top, left - tile.left : right - tile.left
                ]
                cell = unknown[top:bottom, left:right]
                alpha[top:bottom, left:right][cell] = piece.float()[cell]
        return alpha
