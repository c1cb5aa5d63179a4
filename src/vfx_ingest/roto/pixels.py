"""Between plate pixels and the network: input images, prompt coordinates, output masks.

transformers' SAM processors need torchvision, so this does their work with torch alone.
The networks see the plate squeezed to a square (no letterbox): SAM 2 at 1024x1024 with
ImageNet mean/std, SAM 3 at 1008x1008 with mean and std 0.5 (the size is the checkpoint's
``image_size``). Prompt coordinates are scaled the same way, x by size/width and y by
size/height. Masks come back as logits at a quarter of the input size (256 or 288 square);
they are upsampled to the plate bilinearly as logits and only then thresholded, which keeps
edges where the network put them; at 4K they are still soft (the matte stage refines them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class InputSpec:
    """How a network wants its images: square side and normalisation."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def describe(self) -> str:
        return f"{self.size}x{self.size}, mean {self.mean}, std {self.std}"


def sam2_input(size: int = 1024) -> InputSpec:
    return InputSpec(size, IMAGENET_MEAN, IMAGENET_STD)


def sam3_input(size: int = 1008) -> InputSpec:
    return InputSpec(size, HALF, HALF)


def to_unit(rgb: np.ndarray) -> np.ndarray:
    """A plate frame (uint8, uint16 or float 0..1) as float32 0..1, HxWx3."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    return rgb.astype(np.float32, copy=False)


def network_image(
    rgb: np.ndarray, spec: InputSpec, device: str | torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """1x3xSxS normalised input for one frame (bilinear with antialiasing, as the
    processors resize)."""
    image = torch.from_numpy(np.ascontiguousarray(to_unit(rgb))).to(device)
    image = image.permute(2, 0, 1).unsqueeze(0)
    if image.shape[-2:] != (spec.size, spec.size):
        image = F.interpolate(
            image, size=(spec.size, spec.size), mode="bilinear", align_corners=False, antialias=True
        )
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
    return ((image - mean) / std).to(dtype)


def scale_points(
    points: list[tuple[float, float]], width: int, height: int, size: int
) -> list[tuple[float, float]]:
    """Plate pixel coordinates to the network's square input."""
    sx, sy = size / width, size / height
    return [(x * sx, y * sy) for x, y in points]


def mask_input(mask: np.ndarray, size: int, device: str | torch.device) -> torch.Tensor:
    """A plate-size mask (bool or 0/255) as the 1x1xSxS 0/1 float a mask prompt takes."""
    tensor = torch.from_numpy(np.ascontiguousarray(mask > 0)).to(device).float()[None, None]
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(
            tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return (tensor >= 0.5).float()


def upsample_logits(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Nx1xhxw (or Nxhxw) low-resolution logits to NxHxW float32 logits at plate size."""
    if logits.dim() == 3:
        logits = logits.unsqueeze(1)
    up = F.interpolate(logits.float(), size=(height, width), mode="bilinear", align_corners=False)
    return up[:, 0]


def logit(probability: float) -> float:
    return math.log(probability / (1.0 - probability))


def binary_masks(logits: torch.Tensor, threshold: float) -> np.ndarray:
    """NxHxW bool masks: plate-size logits above the probability ``threshold``."""
    return (logits > logit(threshold)).cpu().numpy()


def soft_masks(logits: torch.Tensor) -> np.ndarray:
    """NxHxW uint8 probabilities (0..255) of plate-size logits."""
    return (torch.sigmoid(logits) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
