"""``vfx-ingest deploy modal``: build the app from the stages and deploy it.

The wheel is built from the code running now; the app's spec (which class serves which
stage on which GPU, the version) is left in the shots volume, where run clients read it
to find the classes and to refuse a version mismatch before anything is sent.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ...config import Settings
from ..base import Report, Say
from . import seam
from .settings import ModalDeployOptions
from .shots import app_spec_path
from .spec import ImageSpec, app_spec


class DeployedClass(BaseModel):
    name: str
    gpu: str | None
    stages: list[str]
    functions: list[str]


class DeployReport(Report):
    app: str
    app_id: str
    environment: str | None
    version: str
    classes: list[DeployedClass]
    models_volume: str
    shots_volume: str
    image: ImageSpec
    timeout_s: int
    scaledown_window_s: int

    def human(self) -> Any:
        """The deployed app: a heading line, its functions, and its volumes and limits."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table()
        for column in ("function", "GPU", "stages"):
            table.add_column(column)
        for entry in self.classes:
            for function in entry.functions:
                table.add_row(function, entry.gpu or "CPU", ", ".join(entry.stages))
        return Group(
            Text(f"Modal app {self.app} ({self.app_id}) deployed, vfx-ingest {self.version}"),
            table,
            Text(
                f"volumes: {self.models_volume} (models), {self.shots_volume} (shots); "
                f"timeout {self.timeout_s} s; idle workers stop after {self.scaledown_window_s} s"
            ),
        )


def deploy(settings: Settings, options: ModalDeployOptions, say: Say) -> DeployReport:
    """The ``deploy`` hook: ``--gpu`` sets modal.gpu for this deploy."""
    if options.gpu:
        settings = settings.model_copy(
            update={"modal": settings.modal.model_copy(update={"gpu": options.gpu})}
        )
    return deploy_modal(settings, logs=options.logs and not say.json)


def deploy_modal(settings: Settings, *, logs: bool = False) -> DeployReport:
    from ...wheel import build_wheel
    from .app import build_app

    calls = seam.connect()
    calls.check_token()
    with tempfile.TemporaryDirectory(prefix="vfx-ingest-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        spec = app_spec(settings, wheel=wheel.name)
        built = build_app(spec, wheel, settings.models_registry)
        app_id = calls.deploy(built, spec.environment, logs=logs)
    shots = calls.volume(
        spec.shots_volume, spec.environment, create=True, missing_fix=seam.DEPLOY_FIX
    )
    shots.upload([(spec.model_dump_json(indent=2).encode(), app_spec_path(spec.name))])
    return DeployReport(
        app=spec.name,
        app_id=app_id,
        environment=spec.environment,
        version=spec.version,
        classes=[
            DeployedClass(name=c.name, gpu=c.gpu, stages=c.stages, functions=[f"{c.name}.run_job"])
            for c in spec.classes
        ],
        models_volume=spec.models_volume,
        shots_volume=spec.shots_volume,
        image=spec.image,
        timeout_s=spec.timeout_s,
        scaledown_window_s=spec.scaledown_window_s,
    )
