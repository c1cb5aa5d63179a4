"""Temporal DPT depth head of Video Depth Anything.

A DPT decoder (reassemble four ViT layers at 4x, 2x, 1x and 1/2x the patch grid, then fuse
coarse-to-fine with RefineNet-style blocks) with four temporal motion modules inserted at
the coarse end: on the two deepest reassembled maps and after the two coarsest fusions.
Submodule names follow the official checkpoints (``projects``, ``resize_layers``,
``scratch.*``, ``motion_modules``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dinov2 import PATCH_SIZE
from .motion_module import TemporalModule

HEAD_HIDDEN = 32


def _upsample(x: Tensor, size: tuple[int, int]) -> Tensor:
    # Every resize in the head is bilinear with align_corners=True.
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """x + conv(relu(conv(relu(x)))), no normalisation."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Merge a coarser path with a skip connection, refine, upsample to ``size``, 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)
        self.resConfUnit1 = ResidualConvUnit(features)  # refines the skip input
        self.resConfUnit2 = ResidualConvUnit(features)  # refines the merged map

    def forward(self, x: Tensor, skip: Tensor | None, size: tuple[int, int]) -> Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return self.out_conv(_upsample(x, size))


class Scratch(nn.Module):
    """Container named ``scratch`` in the checkpoint: channel adapters, fusions, output."""

    def __init__(self, in_channels: list[int], features: int) -> None:
        super().__init__()

        def adapter(channels: int) -> nn.Conv2d:  # bias-free 3x3 to the common width
            return nn.Conv2d(channels, features, kernel_size=3, padding=1, bias=False)

        self.layer1_rn = adapter(in_channels[0])
        self.layer2_rn = adapter(in_channels[1])
        self.layer3_rn = adapter(in_channels[2])
        self.layer4_rn = adapter(in_channels[3])
        self.refinenet1 = FusionBlock(features)
        self.refinenet2 = FusionBlock(features)
        self.refinenet3 = FusionBlock(features)
        self.refinenet4 = FusionBlock(features)
        self.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        # Depth is non-negative (relative inverse depth), hence the closing ReLU.
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, HEAD_HIDDEN, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(HEAD_HIDDEN, 1, kernel_size=1),
            nn.ReLU(),
        )


class TemporalDPTHead(nn.Module):
    """Maps four ViT layers of T frames per clip to one depth map per frame."""

    def __init__(
        self,
        in_channels: int,
        features: int,
        out_channels: list[int],
        max_frames: int = 32,
        tail_chunk: int | None = 4,
    ) -> None:
        """``tail_chunk``: frames decoded at a time in the high-resolution tail (the two finest
        fusions and the output convolutions), where activations are largest. Purely a memory
        knob: results do not depend on it. ``None`` decodes all frames at once."""
        super().__init__()
        self.tail_chunk = tail_chunk
        self.projects = nn.ModuleList(
            nn.Conv2d(in_channels, channels, kernel_size=1) for channels in out_channels
        )
        # Reassemble to 4x, 2x, 1x and 1/2x of the patch grid.
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features)
        self.motion_modules = nn.ModuleList(
            TemporalModule(channels, max_frames)
            for channels in (out_channels[2], out_channels[3], features, features)
        )

    def forward(
        self,
        layers: list[tuple[Tensor, Tensor]],
        grid_hw: tuple[int, int],
        num_frames: int,
    ) -> Tensor:
        """``layers``: four ``(patch_tokens [B*T, h*w, C], cls_token [B*T, C])`` pairs (the class
        token is unused by this head); ``grid_hw``: the patch grid (h, w); frames of one clip
        are contiguous along the batch axis. Returns depth [B*T, 1, 14h, 14w]."""
        grid_h, grid_w = grid_hw
        maps = []
        for (tokens, _cls), project, resize in zip(
            layers, self.projects, self.resize_layers, strict=True
        ):
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], grid_h, grid_w)
            maps.append(resize(project(x)))
        layer1, layer2, layer3, layer4 = maps

        mm = self.motion_modules
        layer3 = mm[0](layer3, num_frames)
        layer4 = mm[1](layer4, num_frames)

        s = self.scratch
        l1, l2, l3, l4 = (
            s.layer1_rn(layer1),
            s.layer2_rn(layer2),
            s.layer3_rn(layer3),
            s.layer4_rn(layer4),
        )
        path = mm[2](s.refinenet4(l4, None, size=l3.shape[-2:]), num_frames)
        path = mm[3](s.refinenet3(path, l3, size=l2.shape[-2:]), num_frames)

        # From here on every op is per-frame, so the finest levels can go in chunks.
        out_size = (grid_h * PATCH_SIZE, grid_w * PATCH_SIZE)
        step = self.tail_chunk or path.shape[0]
        chunks = [
            self._tail(p, skip2, skip1, out_size)
            for p, skip2, skip1 in zip(
                path.split(step), l2.split(step), l1.split(step), strict=True
            )
        ]
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def _tail(
        self, path: Tensor, skip2: Tensor, skip1: Tensor, out_size: tuple[int, int]
    ) -> Tensor:
        s = self.scratch
        path = s.refinenet2(path, skip2, size=skip1.shape[-2:])
        h1, w1 = skip1.shape[-2:]
        path = s.refinenet1(path, skip1, size=(2 * h1, 2 * w1))
        out = _upsample(s.output_conv1(path), out_size)
        # The last convolutions run in fp32 even under autocast (as the reference does):
        # they are cheap and produce the depth values themselves.
        with torch.autocast(device_type=out.device.type, enabled=False):
            depth = s.output_conv2(out.float())
        return depth.to(out.dtype)
