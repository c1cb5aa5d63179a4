"""The Modal app, built from an :class:`~.spec.AppSpec` (itself derived from the stages).

``build_app(spec, wheel)`` makes the ``modal.App``: one image (Debian slim with the
client's Python, torch from PyPI's CUDA builds when a stage uses it, this package from its
own wheel with the stages' extras), the models and shots volumes, the secrets, and one
class per GPU type. Each class is a :class:`StageWorker`: ``@modal.enter()`` checks the
models of its instance once per container, ``@modal.method() run_job`` runs a job through
``worker.execute``.

Modal finds a deployed class by importing this module in the container and looking the
class up by name, so the classes are made module globals, and a container (which has the
spec in its environment, ``SPEC_ENV``) rebuilds the same app at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modal

from .container import Container, EventSink
from .spec import REGISTRY_PATH, WHEELS_DIR, AppSpec

SPEC_ENV = "VFX_INGEST_MODAL_APP"


class StageWorker:
    """Runs jobs for the stages of one GPU type. ``build_app`` subclasses it per GPU type
    and adds the ``models`` parameter (Modal reads a class's own annotations only): Modal
    keeps one instance per model set in a container, so ``load`` runs once per set."""

    models: str
    shots_volume: Any
    shots_mount: str

    @modal.enter()
    def load(self) -> None:
        self.container = Container(self.shots_mount, [m for m in self.models.split(",") if m])

    @modal.method()
    def run_job(self, job_json: str, events: EventSink | None, client_version: str) -> dict:
        """Run one job (JSON of ``vfx_ingest.job.Job``); progress goes into ``events``."""
        stuck = None if modal.is_local() else _exit_container
        return self.container.run(
            job_json, events, client_version, self._reload, self._commit, stuck
        )

    def _reload(self) -> None:
        if not modal.is_local():
            self.shots_volume.reload()

    def _commit(self) -> None:
        if not modal.is_local():
            self.shots_volume.commit()


def _exit_container() -> None:
    # The input was cancelled and its stage does not stop: end the container rather than
    # leave the stage running (and its GPU billed) unseen.
    os._exit(1)


def build_image(spec: AppSpec, wheel: Path | None, registry: Path | None = None) -> modal.Image:
    """The worker image. ``wheel`` is None only inside a container, where the image is
    already built and only the app's shape matters; ``registry`` is the in-house model
    registry the spec says the image holds."""
    image = modal.Image.debian_slim(python_version=spec.image.python_version)
    if spec.image.apt_packages:
        image = image.apt_install(*spec.image.apt_packages)
    if spec.image.torch:
        # Its own layer, before the wheel: the big download is cached across deploys.
        image = image.pip_install(spec.image.torch)
    if wheel is not None:
        image = image.add_local_file(wheel, f"{WHEELS_DIR}/{wheel.name}", copy=True)
        image = image.pip_install(spec.image.wheel_requirement)
    if registry is not None and spec.image.registry:
        image = image.add_local_file(registry, REGISTRY_PATH, copy=True)
    return image.env({**spec.worker_env, SPEC_ENV: spec.model_dump_json()})


@dataclass
class BuiltApp:
    spec: AppSpec
    app: modal.App
    classes: dict[str, modal.Cls]  # by name, as in the spec


def build_app(spec: AppSpec, wheel: Path | None = None, registry: Path | None = None) -> BuiltApp:
    """The app for ``spec``; its classes are also this module's globals (see above)."""
    app = modal.App(spec.name, tags=spec.tags, include_source=False)
    image = build_image(spec, wheel, registry)
    models = modal.Volume.from_name(
        spec.models_volume, environment_name=spec.environment, create_if_missing=True
    )
    shots = modal.Volume.from_name(
        spec.shots_volume, environment_name=spec.environment, create_if_missing=True
    )
    secrets = [
        modal.Secret.from_name(name, environment_name=spec.environment) for name in spec.secrets
    ]
    classes: dict[str, modal.Cls] = {}
    for entry in spec.classes:
        namespace = {
            "__module__": __name__,
            "__annotations__": {"models": str},
            "__doc__": f"Runs {', '.join(entry.stages)} on {entry.gpu or 'CPU'}.",
            "models": modal.parameter(default=""),
            "shots_volume": shots,
            "shots_mount": spec.shots_mount,
        }
        decorate = app.cls(
            image=image,
            gpu=entry.gpu,
            volumes={spec.models_mount: models, spec.shots_mount: shots},
            secrets=secrets,
            timeout=spec.timeout_s,
            scaledown_window=spec.scaledown_window_s,
            cpu=spec.cpu,
            memory=spec.memory_mib,
            nonpreemptible=spec.nonpreemptible,
        )
        classes[entry.name] = decorate(type(entry.name, (StageWorker,), namespace))
        globals()[entry.name] = classes[entry.name]
    return BuiltApp(spec, app, classes)


if _spec := os.environ.get(SPEC_ENV):
    build_app(AppSpec.model_validate_json(_spec))
