"""``cameras.json``: our own schema (see ``camera/cameras_json.py``)."""

from __future__ import annotations

from ..shotcam import ShotCamera


def render(camera: ShotCamera) -> dict[str, bytes]:
    return {"cameras.json": camera.to_doc().to_json().encode()}
