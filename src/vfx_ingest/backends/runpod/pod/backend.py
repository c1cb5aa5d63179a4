"""The client side of ``--backend runpod-pod``: one on-demand pod per run.

1. Collect this machine's leftover pods (ledger entries whose client process is gone).
2. Create a pod through REST v2, named ``vfx-ingest-<run id>``, whose ``args`` start
   ``vfx-ingest worker pod``; write the ledger entry as soon as the answer arrives.
   A GPU type without capacity, or a pod not serving within ``runpod.pod_start_timeout_s``
   (terminated first), moves on to the next of ``--gpu`` then ``runpod.gpu_types``.
3. Reach the worker at ``runpod.pod_url`` with a bearer token made for this pod, and run
   the stages through the shared remote runner (``backends/remote.py``), as serverless.
   A heartbeat thread keeps the pod's watchdog satisfied and ticks the cost meter from
   the pod's creation, at the rate the create answer quotes (``cost``, $/h).
4. Terminate the pod at the end, whatever the end (success, error, Ctrl-C, ``--max-cost``)
   and confirm it is gone, unless ``--keep-pod``: then the pod is released to its idle
   rule and the command to remove it is printed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ....config import Settings
from ....errors import BadInput, StageFailed, VfxIngestError
from ....job import Job, JobResult
from ....stages.base import Cancelled
from ....worker import EventFn, execute
from ..api import EndpointClient, RunpodTransport
from .commands import DEADLINE_ENV
from .control import AnswerLost, NoCapacity, PodControl
from .ledger import NAME_PREFIX, Ledger, PodEntry
from .server import STORAGE_ENV, TOKEN_ENV

if TYPE_CHECKING:
    from ....cost.meter import CostMeter

log = logging.getLogger(__name__)
ENDPOINT = "pod"  # the path segment the pod's server takes for an endpoint id


class PodTransport(RunpodTransport):
    name = "runpod-pod"


class NotReady(StageFailed):
    """The pod did not serve within the start timeout."""


class RunpodPodBackend:
    name = "runpod-pod"
    remote = True

    def __init__(self, settings: Settings) -> None:
        rp = settings.runpod
        if not rp.image:
            raise BadInput(
                "no worker image for the pod",
                fix="Build it with `vfx-ingest deploy runpod-serverless` (it saves "
                "runpod.image), or set VFX_INGEST_RUNPOD__IMAGE",
            )
        if not settings.s3.bucket:
            raise BadInput(
                "a pod run moves files through object storage, and none is configured",
                fix="Set s3.bucket (see docs/storage.md)",
            )
        from ....storage import Store

        self.settings = settings
        self.store = Store(settings.s3)
        self.control = PodControl(
            rp.rest_url, rp.api_key.get_secret_value() if rp.api_key else None
        )
        self.ledger = Ledger()

    # ------------------------------------------------------------------ the run

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        try:
            self.collect_orphans()
            return self._run(job, on_event, cancel, meter)
        finally:
            self.control.close()

    def collect_orphans(self) -> None:
        for entry in self.ledger.orphans():
            log.warning("terminating pod %s left by run %s", entry.pod_id, entry.run_id)
            with contextlib.suppress(StageFailed):
                self.control.terminate(entry.pod_id)
                self.ledger.remove(entry.pod_id)

    def _run(
        self, job: Job, on_event: EventFn, cancel: threading.Event, meter: CostMeter | None
    ) -> JobResult:
        from ...remote import RemoteOptions, RemoteRunner
        from .volume import require

        rp = self.settings.runpod
        require(self.settings, job.models)  # before any GPU is paid for
        options = RemoteOptions(
            max_workers=1,  # one pod, one job at a time
            poll_s=rp.poll_interval_s,
            timeout_s=rp.job_timeout_s,
            timeout_setting="runpod.job_timeout_s",
            url_ttl_s=self.settings.s3.url_ttl_s,
            info={"backend": self.name},
            inline_limit=8 * 1024 * 1024,
        )
        session = PodSession(self, job, cancel, meter, options.info)
        succeeded = False
        try:
            runner = RemoteRunner(job, session, self.store, on_event, options)
            result = execute(job, on_event, cancel, runner=runner)
            succeeded = True
            return result
        finally:
            session.close(keep=rp.keep_pod and succeeded)

    def _end(self, pod_id: str, beat: Heartbeat) -> None:
        try:
            self.control.terminate(pod_id)
        finally:
            beat.tick()  # creation to termination, all of it
        self.ledger.remove(pod_id)

    def _record_cost(self, job: Job, pod: dict[str, Any], kept: bool) -> None:
        """Each stage that ran on the pod records the pod's cost from its creation to
        its termination (to now, for a kept pod); the first one also its start-up as the
        cold start the catalog prices and the history measures."""
        from pathlib import Path

        from ....shot import ShotFolder

        billed = pod.get("_billed_s", 0.0)
        usage = {
            "id": pod["id"],
            "gpu": pod["gpu"]["id"],
            "usd_per_hour": pod.get("cost"),
            "billed_s": round(billed, 3),
            "cost_usd": round(billed * float(pod.get("cost") or 0.0) / 3600, 6),
            "kept": kept,
        }
        shot = ShotFolder(Path(job.shot))
        with shot.lock():
            manifest = shot.load_manifest()
            if manifest is None:
                return
            first = True
            for record in manifest.stages.values():
                remote = record.stats.get("remote") or {}
                if remote.get("pod") == pod["id"]:
                    record.stats["pod"] = usage
                    if first:
                        record.stats["cold_start_s"] = round(pod.get("_startup_s", 0.0), 3)
                        first = False
            shot.save_manifest(manifest)

    # --------------------------------------------------------------- start-up

    def _gpus(self) -> list[str]:
        rp = self.settings.runpod
        first = [rp.gpu] if rp.gpu else []
        return list(dict.fromkeys(first + rp.gpu_types))

    def _start(
        self, job: Job, token: str, cancel: threading.Event, meter: CostMeter | None
    ) -> tuple[dict[str, Any], EndpointClient]:
        tried: list[str] = []
        for gpu in self._gpus():
            if cancel.is_set():
                raise Cancelled("the run was cancelled before its pod started")
            body = self._body(job, gpu, token)
            try:
                pod = self.control.create(body)
            except NoCapacity as exc:
                tried.append(exc.line())
                continue
            except AnswerLost as exc:
                self._remove_unanswered(body["name"], exc)
                raise
            created = time.monotonic()
            rate = float(pod.get("cost") or 0.0)
            self.ledger.add(
                PodEntry(
                    pod_id=pod["id"],
                    run_id=job.job_id,
                    name=pod["name"],
                    client_pid=os.getpid(),
                    usd_per_hour=rate,
                    gpu=gpu,
                    deadline=datetime.now(UTC) + timedelta(hours=self.settings.runpod.pod_deadline),
                )
            )
            pod["_created"] = created
            if meter is not None:
                meter.set_rate(rate / 3600, None)
            client = self._client(pod["id"], token)
            try:
                self._wait(pod, client, cancel, meter)
                pod["_startup_s"] = time.monotonic() - created
                return pod, client
            except NotReady as exc:
                tried.append(exc.line())
                client.http.close()
                self._end(pod["id"], Heartbeat(None, meter, pod, 1.0))
            except BaseException:
                client.http.close()
                self._end(pod["id"], Heartbeat(None, meter, pod, 1.0))
                raise
        raise StageFailed(
            "no pod could be started: " + "; ".join(tried),
            fix="Try other GPU types (--gpu, runpod.gpu_types) or later",
        )

    def _remove_unanswered(self, name: str, lost: AnswerLost) -> None:
        """A create whose answer was lost may have made a pod no ledger knows, and one
        whose image never starts has no watchdog either: find it by name, end it."""
        try:
            for pod in self.control.named(name):
                self.control.terminate(pod["id"])
        except VfxIngestError:
            lost.fix = f"Run `vfx-ingest pods gc --older-than 0s` to remove a pod named {name}"
        else:
            lost.fix = "Run again; any pod that create made is terminated"

    def _client(self, pod_id: str, token: str) -> EndpointClient:
        rp = self.settings.runpod
        url = rp.pod_url.format(pod_id=pod_id, port=rp.pod_port)
        return EndpointClient(url, ENDPOINT, token, timeout=60.0, attempts=3)

    def _body(self, job: Job, gpu: str, token: str) -> dict[str, Any]:
        rp = self.settings.runpod
        deadline = time.time() + rp.pod_deadline * 3600
        env = {
            TOKEN_ENV: token,
            STORAGE_ENV: self.store.presign_get("probe", 60),
            DEADLINE_ENV: f"{deadline:.0f}",
            "VFX_INGEST_RUNPOD__REST_URL": rp.rest_url,
            "VFX_INGEST_RUNPOD__POD_HEARTBEAT_TIMEOUT_S": f"{rp.pod_heartbeat_timeout_s:g}",
            "VFX_INGEST_RUNPOD__POD_IDLE_TIMEOUT_S": f"{rp.pod_idle_timeout_s:g}",
            "VFX_INGEST_RUNPOD__CANCEL_GRACE_S": f"{rp.cancel_grace_s:g}",
        }
        body: dict[str, Any] = {
            "name": f"{NAME_PREFIX}{job.job_id}",
            "image": rp.image,
            "gpu": {"id": gpu, "count": 1},
            "cloud": rp.pod_cloud,
            "args": f"vfx-ingest worker pod --host 0.0.0.0 --port {rp.pod_port}",
            "ports": [f"{rp.pod_port}/http"],
            "env": env,
            "disk": rp.pod_disk_gb,
        }
        if rp.network_volume_id:
            volume = {"volumeId": rp.network_volume_id, "path": "/runpod-volume"}
            body["mounts"] = {"network": [volume]}
        return body

    def _wait(
        self,
        pod: dict[str, Any],
        client: EndpointClient,
        cancel: threading.Event,
        meter: CostMeter | None,
    ) -> None:
        """Until the pod is RUNNING and its worker answers /health (with our token)."""
        rp = self.settings.runpod
        deadline = pod["_created"] + rp.pod_start_timeout_s
        beat = Heartbeat(None, meter, pod, 1.0)
        status = pod.get("status")
        while True:
            beat.tick()
            if cancel.is_set():
                raise Cancelled("the run was cancelled while its pod started")
            if status == "RUNNING" and _answers(client):
                return
            if status in ("EXITED", "ERROR", "TERMINATED"):
                raise NotReady(f"{pod['gpu']['id']}: the pod ended while starting ({status})")
            if time.monotonic() > deadline:
                raise NotReady(
                    f"{pod['gpu']['id']}: not serving {rp.pod_start_timeout_s:g} s after "
                    f"creation (last status {status})"
                )
            cancel.wait(rp.poll_interval_s)
            found = self.control.get(pod["id"])
            status = found.get("status") if found else "TERMINATED"


class PodSession:
    """The run's pod as the remote runner's transport: created when the first stage that
    must run is submitted (a fully cached run starts no pod; its first upload happens
    before the pod exists), ended or kept by :meth:`close`."""

    name = "runpod-pod"

    def __init__(
        self,
        backend: RunpodPodBackend,
        job: Job,
        cancel: threading.Event,
        meter: CostMeter | None,
        info: dict[str, Any],
    ) -> None:
        self.backend, self.job, self.cancel, self.meter, self.info = (
            backend,
            job,
            cancel,
            meter,
            info,
        )
        self.pod: dict[str, Any] | None = None
        self.client: EndpointClient | None = None
        self.transport: PodTransport | None = None
        self.beat: Heartbeat | None = None
        self.lock = threading.Lock()

    def _started(self) -> PodTransport:
        with self.lock:
            if self.transport is None:
                from .... import redact

                token = secrets.token_urlsafe(32)
                redact.register_secret(token)
                self.pod, self.client = self.backend._start(
                    self.job, token, self.cancel, self.meter
                )
                self.info.update(pod=self.pod["id"], gpu=self.pod["gpu"]["id"])
                rp = self.backend.settings.runpod
                self.beat = Heartbeat(
                    self.client,
                    self.meter,
                    self.pod,
                    rp.pod_heartbeat_timeout_s,
                    self.backend.ledger,
                )
                self.beat.start()
                self.transport = PodTransport(self.client)
            return self.transport

    def submit(self, payload: dict[str, Any]) -> str:
        return self._started().submit(payload)

    def poll(self, handle: str) -> Any:
        return self._started().poll(handle)

    def cancel(self, handle: str) -> None:
        if self.transport is not None:
            self.transport.cancel(handle)

    def close(self, *, keep: bool) -> None:
        """Terminate the pod and confirm it is gone, or (``keep``) release it to its idle
        rule; then record what it cost on the stages it ran."""
        if self.pod is None or self.client is None or self.beat is None:
            return
        self.beat.stop()
        pod_id = self.pod["id"]
        rp = self.backend.settings.runpod
        try:
            if keep:
                with contextlib.suppress(Exception):
                    self.client.http.request("POST", "keep")
                self.beat.tick()
                self.backend.ledger.update(pod_id, kept=True)
                print(
                    f"pod {pod_id} kept: it terminates itself after "
                    f"{rp.pod_idle_timeout_s:g} s without a job; remove it now with "
                    f"`vfx-ingest pods gc --all`",
                    file=sys.stderr,
                )
            else:
                self.backend._end(pod_id, self.beat)
        finally:
            self.client.http.close()
        self.backend._record_cost(self.job, self.pod, keep)


def _answers(client: EndpointClient) -> bool:
    try:
        client.health()
    except Exception:  # not up yet: the proxy answers 502, or nothing listens
        return False
    return True


class Heartbeat:
    """While the run lasts: a request to the worker every few seconds (the watchdog's
    heartbeat, uploads and downloads included) and the cost meter's ticks from creation."""

    def __init__(
        self,
        client: EndpointClient | None,
        meter: CostMeter | None,
        pod: dict[str, Any],
        timeout_s: float,
        ledger: Ledger | None = None,
    ) -> None:
        self.client, self.meter, self.pod, self.ledger = client, meter, pod, ledger
        self.period = max(0.2, min(10.0, timeout_s / 4))
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pod-heartbeat", daemon=True)
        self.lock = threading.Lock()
        self.pod.setdefault("_ticked", self.pod["_created"])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        if self.thread.is_alive():
            self.thread.join()

    def tick(self) -> None:
        with self.lock:
            now = time.monotonic()
            if self.meter is not None:
                self.meter.tick(now - self.pod["_ticked"])
            self.pod["_ticked"] = now
            self.pod["_billed_s"] = now - self.pod["_created"]

    def _loop(self) -> None:
        while not self.halt.wait(self.period):
            self.tick()
            if self.client is not None:
                with contextlib.suppress(Exception):  # a missed beat is no failure
                    self.client.health()
                    if self.ledger is not None:  # for `pods list`
                        self.ledger.update(self.pod["id"], last_heartbeat=datetime.now(UTC))
