"""Video Depth Anything: DINOv2 encoder + temporal DPT head, for clips of up to 32 frames.

Input: normalised RGB clips ``[B, T, 3, H, W]`` (ImageNet mean/std, H and W multiples of
14); output: non-negative relative inverse depth ``[B, T, H, W]``. The module layout loads
the official ``video_depth_anything_{vits,vitb,vitl}.pth`` checkpoints (and the ``metric_``
variants, which share the layout) with ``load_state_dict(strict=True)``.

Long videos are processed by the caller in overlapping windows of at most ``MAX_FRAMES``;
that windowing and the scale/shift alignment between windows are not part of the network.
"""

from __future__ import annotations

from typing import TypedDict

from torch import Tensor, nn

from .dinov2 import PATCH_SIZE, DinoV2
from .dpt_temporal import TemporalDPTHead

# The temporal position table (``pos_encoder.pe``) has 32 rows: the training window.
MAX_FRAMES = 32


class VDAConfig(TypedDict):
    encoder: str
    features: int
    out_channels: list[int]


CONFIGS: dict[str, VDAConfig] = {
    "vits": {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]},
    "vitb": {"encoder": "vitb", "features": 128, "out_channels": [96, 192, 384, 768]},
    "vitl": {"encoder": "vitl", "features": 256, "out_channels": [256, 512, 1024, 1024]},
}

# Which transformer blocks feed the four DPT levels (0-based block indices).
INTERMEDIATE_LAYERS: dict[str, tuple[int, ...]] = {
    "vits": (2, 5, 8, 11),
    "vitb": (2, 5, 8, 11),
    "vitl": (4, 11, 17, 23),
}


class VideoDepthAnything(nn.Module):
    def __init__(
        self,
        encoder: str = "vits",
        features: int | None = None,
        out_channels: list[int] | None = None,
        tail_chunk: int | None = 4,
    ) -> None:
        super().__init__()
        if encoder not in CONFIGS:
            raise ValueError(f"unknown encoder {encoder!r}; expected one of {list(CONFIGS)}")
        cfg = CONFIGS[encoder]
        self.encoder = encoder
        self.layer_ids = INTERMEDIATE_LAYERS[encoder]
        self.pretrained = DinoV2(encoder)
        self.head = TemporalDPTHead(
            self.pretrained.embed_dim,
            features if features is not None else cfg["features"],
            list(out_channels if out_channels is not None else cfg["out_channels"]),
            max_frames=MAX_FRAMES,
            tail_chunk=tail_chunk,
        )

    def encode(self, frames: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Frames [N, 3, H, W] -> four (patch tokens [N, h*w, C], class token [N, C])."""
        return self.pretrained.get_intermediate_layers(frames, self.layer_ids)

    def decode(
        self, features: list[tuple[Tensor, Tensor]], grid_hw: tuple[int, int], num_frames: int
    ) -> Tensor:
        """Encoder features of B*T frames (clip-major) -> depth [B*T, 1, 14h, 14w]."""
        return self.head(features, grid_hw, num_frames)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f"expected [B, T, 3, H, W], got shape {tuple(x.shape)}")
        batch, frames, _, height, width = x.shape
        if not 1 <= frames <= MAX_FRAMES:
            raise ValueError(f"T={frames} frames; the network takes 1..{MAX_FRAMES} per window")
        if height % PATCH_SIZE or width % PATCH_SIZE:
            raise ValueError(f"H, W = {height}, {width} must be multiples of {PATCH_SIZE}")
        grid_hw = (height // PATCH_SIZE, width // PATCH_SIZE)
        depth = self.decode(self.encode(x.flatten(0, 1)), grid_hw, frames)
        # The reference then resizes to (H, W) and applies another ReLU; both are identities
        # here (the head already outputs 14h x 14w = H x W and ends in a ReLU).
        return depth.squeeze(1).unflatten(0, (batch, frames))
