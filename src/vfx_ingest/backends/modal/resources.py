"""What the Modal backend keeps in the cloud: the ``resources`` hook (``storage list``).

The deployed app (its spec, left in the shots volume by ``deploy modal``), the models
volume (what ``models sync --to modal`` put there) and one row per shot copy in the shots
volume, with its size. A volume that does not exist yet gives no row.
"""

from __future__ import annotations

from ...config import Settings
from ...errors import BadInput
from ..base import Resource
from . import seam
from .models_volume import read_index
from .shots import read_deployed_spec

BACKEND = "modal"


def resources(settings: Settings) -> list[Resource]:
    modal = settings.modal
    calls = seam.connect()
    calls.check_token()
    rows: list[Resource] = []
    models = _volume(calls, modal.models_volume, modal.environment)
    if models is not None:
        index = read_index(models)
        rows.append(
            Resource(
                backend=BACKEND,
                kind="volume",
                name=models.name,
                size_bytes=_size(models, ""),
                detail=f"models: {', '.join(sorted(index.models)) or 'none'}",
            )
        )
    shots = _volume(calls, modal.shots_volume, modal.environment)
    if shots is None:
        return rows
    spec = read_deployed_spec(shots, modal.app_name)
    if spec is not None:
        rows.insert(
            0,
            Resource(
                backend=BACKEND,
                kind="app",
                name=spec.name,
                status=f"vfx-ingest {spec.version}",
                detail=f"{len(spec.classes)} classes: "
                + ", ".join(c.gpu or "CPU" for c in spec.classes),
            ),
        )
    for entry in shots.listdir(""):
        if entry.is_dir and not entry.path.startswith("."):
            rows.append(
                Resource(
                    backend=BACKEND,
                    kind="shot",
                    name=entry.path,
                    size_bytes=_size(shots, entry.path),
                    detail=f"in volume {shots.name}",
                )
            )
    return rows


def _size(volume: seam.VolumeCalls, path: str) -> int:
    return sum(e.size for e in volume.listdir(path, recursive=True) if not e.is_dir)


def _volume(calls: seam.ModalCalls, name: str, environment: str | None) -> seam.VolumeCalls | None:
    try:
        return calls.volume(name, environment, create=False, missing_fix="")
    except BadInput:
        return None
