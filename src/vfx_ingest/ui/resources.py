"""What each backend has running or stored in the cloud, through the backend interface.

A backend that offers the ``resources`` hook lists its resources (pods, endpoints, apps,
bucket usage); one with a ``cleanup`` hook can remove them. A backend without the hooks, or
not configured here, says so instead of failing the page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..backends import BACKENDS, get_backend
from ..config import Settings
from ..errors import VfxIngestError


class BackendResources(BaseModel):
    backend: str
    description: str
    items: list[dict[str, Any]] = Field(default_factory=list)
    note: str = ""
    can_clean: bool = False


def _as_dict(item: Any) -> dict[str, Any]:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json")
    return item if isinstance(item, dict) else {"resource": str(item)}


def list_resources(settings: Settings) -> list[BackendResources]:
    rows = []
    for name, (_, _, description) in BACKENDS.items():
        row = BackendResources(backend=name, description=description)
        try:
            backend: Any = get_backend(name, settings)
            hook = getattr(backend, "resources", None)
            if hook is None:
                row.note = "this backend keeps nothing in the cloud"
            else:
                row.items = [_as_dict(item) for item in hook()]
                row.can_clean = hasattr(backend, "cleanup")
                row.note = "" if row.items else "nothing running or stored"
        except VfxIngestError as exc:
            row.note = f"not configured: {exc.line()}"
        except ImportError as exc:  # the backend's extra is not installed
            row.note = f"not installed ({exc.name})"
        rows.append(row)
    return rows


def clean_up(settings: Settings, name: str) -> str:
    """Run the backend's ``cleanup`` hook; what it reports, as one line."""
    backend: Any = get_backend(name, settings)
    hook = getattr(backend, "cleanup", None)
    if hook is None:
        return f"{name} has nothing to clean up"
    result = hook()
    return str(result) if result is not None else f"{name}: cleaned up"
