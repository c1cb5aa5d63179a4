"""The Modal app as data, derived from the stage registry and the settings.

:class:`AppSpec` says everything the app is made of: the image (Python version, this
package's wheel and the extras the stages declare, torch from PyPI's CUDA builds when a
stage uses it, apt packages), the two volumes and where they are mounted, secrets by name,
and one class per GPU type with the stages it serves. ``app.build_app`` turns it into
Modal objects; the same JSON travels in the image's environment so that a container
rebuilds the identical app when Modal imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from pydantic import BaseModel, Field

from ... import __version__
from ...config import Settings
from ...errors import BadInput
from ...stages import REGISTRY
from ...stages.base import StageSpec
from .gpus import class_name, gpu_for

# Where the worker sees the volumes (container paths; read when a spec is made, so that
# tests can mount the folders standing in for the volumes elsewhere).
MODELS_MOUNT = "/vfx/models"
SHOTS_MOUNT = "/vfx/shots"
# Inside the models volume: models_dir and the Hub cache (models--org--repo/...).
MODELS_SUBDIR = "vfx-ingest"
HF_SUBDIR = "hf"
# Where the wheel is copied in the image before pip installs it, and an in-house model
# registry (settings.models_registry) the workers read.
WHEELS_DIR = "/opt/vfx-ingest/wheels"
REGISTRY_PATH = "/opt/vfx-ingest/registry.toml"
# Tag keys: every app carries the app's name; an ephemeral app also its run's id.
TAG_APP = "vfx-ingest-app"
TAG_RUN = "vfx-ingest-run"


class ImageSpec(BaseModel):
    python_version: str = Field(description="major.minor, the client's own.")
    apt_packages: list[str] = Field(default_factory=list)
    torch: str | None = Field(None, description="pip requirement, from PyPI (CUDA builds).")
    wheel: str = Field(description="File name of this package's wheel.")
    extras: list[str] = Field(default_factory=list, description="The stages' extras.")
    registry: bool = Field(False, description="An in-house model registry is in the image.")

    @property
    def wheel_requirement(self) -> str:
        """What pip installs: the wheel in the image, with the extras."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{WHEELS_DIR}/{self.wheel}{extras}"


class ClassSpec(BaseModel):
    name: str = Field(description="Python identifier, also the Cls name in the app.")
    gpu: str | None = Field(description="Modal GPU string; None: CPU only.")
    stages: list[str]


class AppSpec(BaseModel):
    name: str
    environment: str | None = None
    version: str = Field(__version__, description="vfx-ingest version of the worker.")
    tags: dict[str, str] = Field(default_factory=dict)
    image: ImageSpec
    classes: list[ClassSpec]
    models_volume: str
    shots_volume: str
    models_mount: str
    shots_mount: str
    secrets: list[str] = Field(default_factory=list)
    timeout_s: int
    scaledown_window_s: int
    cpu: float = Field(description="Cores each worker requests (what cost.* prices).")
    memory_mib: int
    nonpreemptible: bool = False

    @property
    def worker_env(self) -> dict[str, str]:
        """The workers' environment: models resolve from the models volume, offline."""
        env = {
            "VFX_INGEST_MODELS_DIR": f"{self.models_mount}/{MODELS_SUBDIR}",
            "VFX_INGEST_HF_CACHE": f"{self.models_mount}/{HF_SUBDIR}",
            "HF_HUB_OFFLINE": "1",
        }
        if self.image.registry:
            env["VFX_INGEST_MODELS_REGISTRY"] = REGISTRY_PATH
        return env

    def class_for(self, stage: str) -> ClassSpec:
        for spec in self.classes:
            if stage in spec.stages:
                return spec
        raise BadInput(
            f"the Modal app {self.name} has no worker for the {stage} stage",
            fix="Run `vfx-ingest deploy modal` to deploy the stages you have now",
        )


def local_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def torch_requirement() -> str:
    """The local torch's version without its local tag (``2.13.0+cpu`` -> PyPI's
    ``torch==2.13.0``, whose Linux wheels are the CUDA builds)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch"
    return f"torch=={version.split('+', 1)[0]}"


def app_spec(
    settings: Settings,
    *,
    wheel: str,
    stages: Iterable[StageSpec] | None = None,
    run_id: str | None = None,
) -> AppSpec:
    """The app for ``stages`` (default: every registered stage). ``run_id`` marks an
    ephemeral app, whose tag then names the run (its billing is the run's own)."""
    modal = settings.modal
    specs = list(stages if stages is not None else REGISTRY.values())
    classes: dict[str, ClassSpec] = {}
    for spec in specs:
        gpu = gpu_for(spec.device, modal.gpu)
        name = class_name(gpu)
        entry = classes.setdefault(
            name, ClassSpec(name=name, gpu=str(gpu) if gpu else None, stages=[])
        )
        entry.stages.append(spec.name)
    extras = sorted({extra for spec in specs for extra in spec.extras})
    tags = {TAG_APP: modal.app_name}
    if run_id is not None:
        tags[TAG_RUN] = run_id
    return AppSpec(
        name=modal.app_name if run_id is None else f"{modal.app_name}-run",
        environment=modal.environment,
        tags=tags,
        image=ImageSpec(
            python_version=local_python(),
            apt_packages=list(modal.apt_packages),
            torch=torch_requirement() if "ml" in extras else None,
            wheel=wheel,
            extras=extras,
            registry=settings.models_registry is not None,
        ),
        classes=sorted(classes.values(), key=lambda c: c.name),
        models_volume=modal.models_volume,
        shots_volume=modal.shots_volume,
        models_mount=MODELS_MOUNT,
        shots_mount=SHOTS_MOUNT,
        secrets=list(modal.secrets),
        timeout_s=modal.timeout_s,
        scaledown_window_s=modal.scaledown_window_s,
        # The resources the price catalog prices Modal workers with (cost.modal_*).
        cpu=settings.cost.modal_cpu_cores,
        memory_mib=max(1, round(settings.cost.modal_memory_gib * 1024)),
        nonpreemptible=settings.cost.modal_nonpreemptible,
    )
