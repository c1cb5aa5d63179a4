"""The Modal backend: ``vfx-ingest run clip.mp4 --backend modal``.

Built in two steps, like every backend: the constructor checks what can be checked before
the shot folder is touched (the SDK, a token, the GPU names, that the app is deployed and
is this version), then :meth:`ModalBackend.run` checks the models volume and runs the job
through ``worker.execute`` with a :class:`~.client.ModalRunner`. With ``--ephemeral``
(``modal.ephemeral``) the app is built from this code and run for the duration of the job
(``app.run()``) instead, which needs no deploy and is billed, and tagged, as its own app.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ... import __version__
from ...config import Settings
from ...errors import BadInput
from ...job import Job, JobResult
from ...shot import ShotFolder
from ...stages import get_stage
from ...worker import EventFn, execute
from . import billing, models_volume, seam
from .client import ModalRunner, Options, Workers
from .gpus import gpu_for, parse_gpu
from .shots import read_deployed_spec
from .spec import AppSpec, app_spec

if TYPE_CHECKING:
    from ...cost.meter import CostMeter


class ModalBackend:
    name = "modal"
    remote = True  # the workers read weights from the models volume, not this machine

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        modal = settings.modal
        if modal.gpu is not None:
            parse_gpu(modal.gpu, where="modal.gpu")
        self.calls = seam.connect()
        self.calls.check_token()
        self.shots = self.calls.volume(
            modal.shots_volume,
            modal.environment,
            create=modal.ephemeral,
            missing_fix=seam.DEPLOY_FIX,
        )
        self.deployed: AppSpec | None = None
        if not modal.ephemeral:
            self.deployed = _deployed(self.shots, modal.app_name)

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        """Run ``job``; ``meter`` gets each call's time at its worker's catalog rate (GPU,
        CPU and memory) and stops the run at the user's cost limit."""
        modal = self.settings.modal
        rate = _Rates(self.settings)
        if meter is not None and meter.limit_usd is not None:
            rate.check([self._gpu_of(request.name) for request in job.stages])
        job = self._models(job)
        options = Options(
            environment=modal.environment,
            poll_s=modal.poll_interval_s,
            max_workers=self.settings.max_workers,
            meter=meter,
            rate=rate,
        )
        with self._workers(job) as workers:
            runner = ModalRunner(job, self.calls, workers, self.shots, options, on_event)
            try:
                result = execute(job, on_event, cancel, runner=runner)
            finally:
                self._tag_costs(job)
        return self._settle_costs(job, result)

    def _models(self, job: Job) -> Job:
        """The job with its models as the models volume holds them; BadInput (exit 2,
        with the sync command) when a stage that will run needs one it lacks. Checked
        before anything is sent."""
        from ...cost.budget import pending_stages

        if not job.models:
            return job
        modal = self.settings.modal
        try:
            volume = self.calls.volume(
                modal.models_volume, modal.environment, create=False, missing_fix=""
            )
            index = models_volume.read_index(volume)
        except BadInput:
            index = models_volume.Index()  # no volume yet: it holds nothing
        job = job.model_copy(update={"models": models_volume.pinned(job.models, index)})
        wanted: set[str] = set()
        for request in pending_stages(job):
            spec = get_stage(request.name)
            wanted |= set(spec.selected_models(spec.params.model_validate(request.params)))
        models_volume.require(
            modal.models_volume, [ref for ref in job.models if ref.id in wanted], index
        )
        return job

    def _gpu_of(self, stage: str) -> str | None:
        """The GPU a stage will run on (the deployed class's, or the settings')."""
        if self.deployed is not None:
            entry = self.deployed.class_for(stage)
            return (self.settings.modal.gpu or entry.gpu) if entry.gpu else None
        gpu = gpu_for(get_stage(stage).device, self.settings.modal.gpu)
        return str(gpu) if gpu else None

    @contextmanager
    def _workers(self, job: Job) -> Iterator[Workers]:
        modal = self.settings.modal
        if self.deployed is not None:
            deployed = self.deployed
            yield Workers(
                deployed,
                lambda name: self.calls.deployed_class(deployed.name, name, modal.environment),
                gpu=modal.gpu,
            )
            return
        from ...wheel import build_wheel
        from .app import build_app

        stages = [get_stage(request.name) for request in job.stages]
        with tempfile.TemporaryDirectory(prefix="vfx-ingest-wheel-") as tmp:
            wheel = build_wheel(Path(tmp))
            spec = app_spec(self.settings, wheel=wheel.name, stages=stages, run_id=job.job_id)
            built = build_app(spec, wheel, self.settings.models_registry)
            with self.calls.ephemeral(built, modal.environment) as classes:
                yield Workers(spec, classes, run_id=job.job_id)

    def _tag_costs(self, job: Job) -> None:
        """An ephemeral run's records get the tag and window of their billed cost."""
        if self.deployed is not None:
            return
        shot = ShotFolder(Path(job.shot))
        with shot.lock():
            manifest = shot.load_manifest()
            if manifest is not None:
                billing.mark_pending(list(manifest.stages.values()), job.job_id)
                shot.save_manifest(manifest)

    def _settle_costs(self, job: Job, result: JobResult) -> JobResult:
        """The billed cost of the shot's ephemeral runs that Modal now reports; the result
        gets the records as shot.json now holds them."""
        shot = ShotFolder(Path(job.shot))
        with shot.lock():
            manifest = shot.load_manifest()
            if manifest is None:
                return result
            if billing.settle(self.calls, manifest):
                shot.save_manifest(manifest)
        records = [manifest.stages.get(r.stage, r) for r in result.records]
        return result.model_copy(update={"records": records})


def _deployed(shots: seam.VolumeCalls, app_name: str) -> AppSpec:
    spec = read_deployed_spec(shots, app_name)
    if spec is None:
        raise BadInput(f"the Modal app {app_name} is not deployed", fix=seam.DEPLOY_FIX)
    if spec.version != __version__:
        raise BadInput(
            f"the deployed Modal app {app_name} runs vfx-ingest {spec.version} and this is "
            f"{__version__}",
            fix=seam.DEPLOY_FIX,
        )
    return spec


class _Rates:
    """USD per second of a Modal worker, from the price catalog (``vfx_ingest.cost``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, gpu: str | None) -> tuple[float, str]:
        from ...cost.catalog import load_catalog
        from ...cost.estimate import billed_rate

        catalog = load_catalog()
        if gpu is None:
            # A CPU worker: its cores and memory, priced as billed_rate prices them.
            cpu = catalog.resource_price("modal", "cpu")
            return billed_rate(catalog, self.settings, cpu.model_copy(update={"usd": 0.0})), cpu.id
        request = parse_gpu(gpu)
        price = next(
            (p for p in catalog.gpu_offers("modal") if p.backend_gpu == request.type.name), None
        )
        if price is None:
            raise BadInput(
                f"the price catalog has no price for Modal's {request.type.name}, so a cost "
                "limit cannot be held",
                fix="Pick a priced GPU with --gpu (see `vfx-ingest cost`), or drop --max-cost",
            )
        scaled = price.model_copy(update={"usd": price.usd * request.count})
        return billed_rate(catalog, self.settings, scaled), price.id

    def check(self, gpus: list[str | None]) -> None:
        """Every worker of the run can be priced (before anything starts)."""
        for gpu in gpus:
            self(gpu)
