"""Export formats of a solved camera; each renders files from a :class:`ShotCamera`.

Every format is a module with ``render(camera) -> {relative path: bytes}`` (paths relative
to the ``camera/`` folder); the stage writes them into the shot and ``vfx-ingest export
camera`` regenerates any of them from ``camera/sparse/`` without solving again.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..shotcam import ShotCamera


@dataclass(frozen=True)
class ExportFormat:
    name: str
    filename: str  # the main file it writes into camera/
    module: str
    summary: str

    def render(self, camera: ShotCamera) -> dict[str, bytes]:
        return importlib.import_module(self.module).render(camera)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "json", "cameras.json", f"{__name__}.cameras", "our vfx-ingest.cameras/1 JSON"
        ),
        ExportFormat(
            "nerfstudio", "transforms.json", f"{__name__}.nerfstudio", "nerfstudio / instant-ngp"
        ),
        ExportFormat("chan", "camera.chan", f"{__name__}.nuke_chan", "Nuke .chan channel file"),
        ExportFormat("nk", "camera.nk", f"{__name__}.nuke_nk", "Nuke Camera node"),
        ExportFormat("usd", "camera.usda", f"{__name__}.usd", "USD camera (usd-core)"),
        ExportFormat("ply", "points.ply", f"{__name__}.ply", "sparse points, PLY"),
    )
}


def render_all(camera: ShotCamera) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for fmt in FORMATS.values():
        files.update(fmt.render(camera))
    return files
