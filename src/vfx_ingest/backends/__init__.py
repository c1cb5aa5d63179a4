"""Backends by name. Each is imported only when chosen (cloud SDKs are heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BadInput
from .base import Backend

if TYPE_CHECKING:
    from ..config import Settings

# name -> (module, class, one-line description)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "local": ("vfx_ingest.backends.local", "LocalBackend", "this machine (CUDA or CPU)"),
    "runpod-serverless": (
        "vfx_ingest.backends.runpod.serverless",
        "RunpodServerlessBackend",
        "RunPod serverless GPU workers (`vfx-ingest deploy runpod-serverless` first)",
    ),
    "modal": (
        "vfx_ingest.backends.modal.backend",
        "ModalBackend",
        "Modal serverless GPUs (`vfx-ingest deploy modal` first)",
    ),
}


def backend_class(name: str) -> type[Backend]:
    """The class of the backend called ``name`` (its module imported only now)."""
    import importlib

    try:
        module, cls, _ = BACKENDS[name]
    except KeyError:
        raise BadInput(
            f"unknown backend {name!r}", fix=f"Known backends: {', '.join(BACKENDS)}"
        ) from None
    return getattr(importlib.import_module(module), cls)


def get_backend(name: str, settings: Settings) -> Backend:
    """The backend called ``name``, configured from ``settings`` (checked at once)."""
    return backend_class(name)(settings)  # type: ignore[call-arg]
