"""What each backend has running or stored in the cloud, through the backend interface.

A backend with the ``resources`` hook lists its resources (pods, endpoints, apps, bucket
usage); one with the ``cleanup`` hook gets a clean-up button, which runs the CLI's own
``vfx-ingest storage gc --backend NAME`` (same checks, same report). A backend without the
hooks, or not configured on this machine, says so instead of failing the page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..backends import BACKENDS, backend_spec
from ..config import Settings
from ..errors import VfxIngestError
from .runs import cli_json


class BackendResources(BaseModel):
    backend: str
    summary: str
    items: list[dict[str, str]] = Field(default_factory=list)
    note: str = ""
    can_clean: bool = False


def list_resources(settings: Settings) -> list[BackendResources]:
    rows = []
    for spec in BACKENDS.values():
        row = BackendResources(
            backend=spec.name, summary=spec.summary, can_clean=spec.has("cleanup")
        )
        hook = spec.hook("resources") if spec.has("resources") else None
        if hook is None:
            row.note = "lists no cloud resources (no resources hook)"
        else:
            try:
                row.items = [_shown(r.model_dump(mode="json")) for r in hook(settings)]
                row.note = "" if row.items else "nothing running or stored"
            except VfxIngestError as exc:
                row.note = f"not available: {exc.line()}"
            except ImportError as exc:  # the backend's extra is not installed
                row.note = f"not installed ({exc.name})"
        rows.append(row)
    return rows


def _shown(resource: dict[str, Any]) -> dict[str, str]:
    """A Resource's fields as table cells: sizes readable, absent values blank."""
    from rich.filesize import decimal

    resource.pop("backend", None)
    size = resource.pop("size_bytes", None)
    cells = {key: "" if value is None else str(value) for key, value in resource.items()}
    return {**cells, "size": "" if size is None else decimal(size)}


def clean_up(name: str, older_than: str, dry_run: bool) -> dict[str, Any]:
    """``vfx-ingest storage gc --backend NAME --older-than AGE [--dry-run] --json``: its
    report, or its one-line error."""
    backend_spec(name)  # BadInput for an unknown name, before any process starts
    args = ["storage", "gc", "--backend", name, "--older-than", older_than, "--json"]
    lines, error = cli_json([*args, "--dry-run"] if dry_run else args)
    return {"error": error, "reports": [line for line in lines if line.get("type") != "error"]}
