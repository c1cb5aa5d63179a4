"""Robust Video Matting: people mattes with no mask, from its TorchScript checkpoints.

The module is called as RVM publishes it, ``model(src, r1, r2, r3, r4, downsample_ratio)``
returning ``(fgr, pha, r1, r2, r3, r4)``: ``src`` is 1x3xHxW RGB 0..1, ``r1..r4`` the
recurrent state (None on the first frame), carried from frame to frame. The network works
internally at ``downsample_ratio`` of the plate and upsamples its own alpha (a deep guided
filter); we choose the ratio so that pass is about ``INTERNAL`` px on its longest side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

INTERNAL = 512  # RVM's authors suggest a low-resolution pass of 256-512 px


def downsample_ratio(height: int, width: int) -> float:
    return min(1.0, INTERNAL / max(height, width))


class RvmRunner:
    """Alpha frame after frame; ``state`` is the recurrent state after the last frame."""

    def __init__(self, network: Any, device: str) -> None:
        self.network = network.to(device)
        self.device = device
        self.state: list[torch.Tensor | None] = [None] * 4

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Straight alpha (float32, HxW, 0..1) of one plate frame (HxWx3, float 0..1)."""
        src = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None]
        ratio = downsample_ratio(*image.shape[:2])
        _, alpha, *state = self.network(src, *self.state, ratio)
        self.state = list(state)
        return alpha[0, 0].float().clamp(0.0, 1.0).cpu().numpy()

    def state_dict(self) -> list[torch.Tensor]:
        """The recurrent state on the CPU, for a checkpoint (empty before the first frame)."""
        return [s.cpu() for s in self.state if s is not None]

    def restore(self, state: list[torch.Tensor]) -> None:
        self.state = [s.to(self.device) for s in state] if state else [None] * 4
