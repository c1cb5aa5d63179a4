"""``points.ply``: the sparse points with their colours, written by pycolmap."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..shotcam import ShotCamera


def render(camera: ShotCamera) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="vfx-ingest-ply-") as tmp:
        path = Path(tmp) / "points.ply"
        camera.reconstruction.export_PLY(path)
        return {"points.ply": path.read_bytes()}
