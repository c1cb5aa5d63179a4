"""Backends by name. Each is imported only when chosen (cloud SDKs are heavy)."""

from __future__ import annotations

from ..errors import BadInput
from .base import Backend

# name -> (module, class, one-line description)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "local": ("vfx_ingest.backends.local", "LocalBackend", "this machine (CUDA or CPU)"),
}


def get_backend(name: str) -> Backend:
    import importlib

    try:
        module, cls, _ = BACKENDS[name]
    except KeyError:
        raise BadInput(
            f"unknown backend {name!r}", fix=f"Known backends: {', '.join(BACKENDS)}"
        ) from None
    return getattr(importlib.import_module(module), cls)()
