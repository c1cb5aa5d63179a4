"""Which device a stage runs on: CUDA when asked for or available and useful, else CPU.

torch is imported only for stages that can use an accelerator.
"""

from __future__ import annotations

from .errors import BadInput
from .stages.base import DeviceNeeds


def resolve(requested: str, needs: DeviceNeeds) -> str:
    if needs.accelerator == "none":
        return "cpu"
    cuda = _cuda_available()
    if requested == "cuda" and not cuda:
        raise BadInput(
            "--device cuda was asked for but torch sees no CUDA GPU",
            fix="Use --device auto or cpu, or install a CUDA build of torch",
        )
    if requested == "cpu" or not cuda:
        if needs.accelerator == "required":
            raise BadInput("this stage needs a CUDA GPU", fix="Run it on a GPU backend")
        return "cpu"
    return "cuda"


def describe(device: str) -> str:
    """Human name for the record: the GPU model on CUDA."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return device


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
