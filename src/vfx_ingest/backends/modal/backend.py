"""The Modal backend: ``vfx-ingest run clip.mp4 --backend modal``.

Built in two steps, like every backend: the constructor checks what can be checked before
the shot folder is touched (the SDK, a token, the GPU names, that the app is deployed and
is this version), then :meth:`ModalBackend.run` hands the job to
:class:`~.client.ModalClient`. With ``--ephemeral`` (``modal.ephemeral``) the app is built
from this code and run for the duration of the job (``app.run()``) instead, which needs no
deploy and is billed, and tagged, as its own app.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ... import __version__
from ...config import Settings
from ...errors import BadInput
from ...job import Job, JobResult
from ...shot import ShotFolder
from ...stages import get_stage
from ...worker import EventFn
from . import billing, models_volume, seam
from .client import ModalClient, Options, Workers
from .gpus import parse_gpu
from .shots import read_deployed_spec
from .spec import AppSpec, app_spec


class ModalBackend:
    name = "modal"

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

    def run(self, job: Job, on_event: EventFn, cancel: threading.Event) -> JobResult:
        modal = self.settings.modal
        with self._workers(job) as workers:
            client = ModalClient(
                self.calls,
                workers,
                self.shots,
                lambda ids: self.calls.volume(
                    modal.models_volume,
                    modal.environment,
                    create=False,
                    missing_fix=models_volume.sync_fix(ids),
                ),
                Options(environment=modal.environment, poll_s=modal.poll_interval_s),
            )
            try:
                result = client.run(job, on_event, cancel)
            finally:
                self._tag_costs(job)
        return self._settle_costs(job, result)

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
            built = build_app(spec, wheel)
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
