"""Shared by the matte tests: tiny networks saved as the registry's files, and a synthetic
plate with a known soft alpha.

- VitMatte: a tiny random ``VitMatteConfig`` saved with ``save_pretrained`` (the files the
  registry lists: ``config.json``, ``model.safetensors``);
- RVM: a tiny TorchScript module with RVM's published call signature
  ``(src, r1, r2, r3, r4, downsample_ratio) -> (fgr, pha, r1, r2, r3, r4)`` whose alpha
  depends on its recurrent state, saved under RVM's file name;
- the plate: soft-edged discs (alpha known exactly) composited over a textured background.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

VITMATTE_FILES = ("config.json", "model.safetensors")
RVM_FILE = "rvm_mobilenetv3_fp32.torchscript"


@cache
def tiny_vitmatte() -> object:
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    torch.manual_seed(0)
    backbone = VitDetConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=64,
        pretrain_image_size=64,
        patch_size=16,
        num_channels=4,
        out_features=["stage2"],
        use_relative_position_embeddings=False,
    )
    config = VitMatteConfig(
        backbone_config=backbone,
        hidden_size=32,
        convstream_hidden_sizes=[8, 16, 16],
        fusion_hidden_sizes=[16, 16, 8, 8],
    )
    network = VitMatteForImageMatting(config)
    # Transformers initialises near zero (alpha 0.5 everywhere): spread the weights so the
    # tiny network answers to its input, as a trained one does.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in network.named_parameters():
            if tensor.dim() > 1:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) / fan_in**0.5)
            elif name.endswith(".weight"):  # norm layers' scales (BatchNorm's start at 0.02)
                tensor.fill_(1.0)
    return network.eval()


def write_vitmatte(folder: Path) -> Path:
    tiny_vitmatte().save_pretrained(str(folder))
    assert sorted(p.name for p in folder.iterdir()) == sorted(VITMATTE_FILES)
    return folder


class TinyRvm(torch.nn.Module):
    """RVM's interface, a few weights: alpha from the frame at ``downsample_ratio`` and a
    recurrent state (a running mean of the low-resolution frame), upsampled."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(6, 1, 3, padding=1)

    def forward(
        self,
        src: torch.Tensor,
        r1: torch.Tensor | None = None,
        r2: torch.Tensor | None = None,
        r3: torch.Tensor | None = None,
        r4: torch.Tensor | None = None,
        downsample_ratio: float = 0.25,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        small = F.interpolate(src, scale_factor=downsample_ratio, mode="area")
        memory = small if r1 is None else 0.5 * r1 + 0.5 * small
        logits = self.conv(torch.cat([small, memory], dim=1)) * 4.0
        pha = torch.sigmoid(F.interpolate(logits, size=src.shape[-2:], mode="bilinear"))
        count = torch.ones(1) if r2 is None else r2 + 1
        zero = torch.zeros(1)
        return src * pha, pha, memory, count, zero if r3 is None else r3, zero if r4 is None else r4


def write_rvm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.jit.script(TinyRvm()).save(str(folder / RVM_FILE))
    return folder


def disc_alpha(height: int, width: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """A disc with a 4-pixel soft edge: the known alpha (float32)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(x - cx, y - cy)
    return np.clip((radius - distance) / 4.0 + 0.5, 0.0, 1.0).astype(np.float32)


def background(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([x / width, y / height, 0.5 + 0.4 * np.sin(x / 5.0)], axis=2) * 0.8


def composite(
    alphas: list[np.ndarray], colours: list[tuple[float, float, float]], grain: int = 0
) -> np.ndarray:
    """uint8 RGB: each alpha's flat colour over the background, in order; ``grain`` seeds
    a film grain of 1.5 code values (0: none), which makes a per-frame matte boil."""
    height, width = alphas[0].shape
    image = background(height, width)
    for alpha, colour in zip(alphas, colours, strict=True):
        image = alpha[..., None] * np.asarray(colour, np.float32) + (1 - alpha[..., None]) * image
    image = image * 255
    if grain:
        image += np.random.default_rng(grain).normal(0.0, 1.5, image.shape)
    return np.round(np.clip(image, 0, 255)).astype(np.uint8)


def moving_discs(count: int, height: int, width: int) -> list[list[np.ndarray]]:
    """Per frame, the alphas of two discs: one moving right, one still."""
    return [
        [
            disc_alpha(height, width, width * 0.3 + 1.5 * i, height * 0.5, height * 0.25),
            disc_alpha(height, width, width * 0.75, height * 0.4, height * 0.15),
        ]
        for i in range(count)
    ]
