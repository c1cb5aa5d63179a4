"""The RunPod serverless backend: each stage that must run goes to a RunPod endpoint.

The client uploads what the stage reads to object storage (content-addressed, so a clip
is sent once), submits the job to the endpoint (``runpod.endpoint_id``; created by
``vfx-ingest deploy runpod-serverless``), follows its progress, and brings the outputs
back into the shot folder, verified. Chunkable stages on long plates fan out over
``max_workers`` jobs. Ctrl-C, errors, timeouts and ``--max-cost`` cancel the remote jobs.

Cost (``vfx_ingest.cost.meter``): the meter's rate is the dearest of the endpoint's GPU
types (the GPU a job gets is known only when it ends), and every second a job is queued or
running is ticked. The stage record's ``device`` is the worker's GPU and its ``wall_s`` the
job's execution time, which the pipeline prices after the run.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ...config import Settings
from ...errors import BadInput
from ...job import Job, JobResult
from ...worker import EventFn, execute

if TYPE_CHECKING:
    from ...cost.meter import CostMeter


# Job documents above this go to the bucket; /run bodies are limited to 10 MB on RunPod.
INLINE_LIMIT = 1024 * 1024


class RunpodServerlessBackend:
    name = "runpod-serverless"
    remote = True

    def __init__(self, settings: Settings) -> None:
        # Everything checkable is checked here, before the shot folder is touched.
        rp = settings.runpod
        if not rp.endpoint_id:
            raise BadInput(
                "no RunPod serverless endpoint is configured",
                fix="Run `vfx-ingest deploy runpod-serverless` (it saves runpod.endpoint_id) "
                "or set VFX_INGEST_RUNPOD__ENDPOINT_ID",
            )
        from ...storage import Store
        from .api import EndpointClient

        self.settings = settings
        self.store = Store(settings.s3)
        self.client = EndpointClient(
            rp.api_url,
            rp.endpoint_id,
            rp.api_key.get_secret_value() if rp.api_key else None,
        )

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        from ...storage import uses_volume
        from ..remote import RemoteOptions, RemoteRunner
        from .api import RunpodTransport

        rp, s3 = self.settings.runpod, self.settings.s3
        if meter is not None:
            rate, price_id = self._dearest_rate()
            if price_id is None and meter.limit_usd is not None:
                raise BadInput(
                    f"no price is known for the endpoint's GPU types ({', '.join(rp.gpu_types)})",
                    fix="Run `vfx-ingest cost --refresh`, or set runpod.gpu_types",
                )
            meter.set_rate(rate, price_id)
        options = RemoteOptions(
            volume=uses_volume(s3),
            max_workers=self.settings.max_workers,
            poll_s=rp.poll_interval_s,
            timeout_s=rp.job_timeout_s,
            timeout_setting="runpod.job_timeout_s",
            url_ttl_s=s3.url_ttl_s,
            info={"backend": self.name, "endpoint": rp.endpoint_id},
            on_billed=meter.tick if meter is not None else None,
            inline_limit=INLINE_LIMIT,
            client_timeout_s=rp.client_timeout_s,
        )
        # RunPod stops a job past executionTimeout and drops one still queued after ttl
        # (queue time included): neither outlives what the client waits for.
        policy = {
            "executionTimeout": int(rp.execution_timeout_s * 1000),
            "ttl": int(max(rp.job_timeout_s, rp.execution_timeout_s) * 1000),
        }
        transport = RunpodTransport(self.client, policy)
        runner = RemoteRunner(job, transport, self.store, on_event, options)
        try:
            return execute(job, on_event, cancel, runner=runner)
        finally:
            self.client.http.close()

    def _dearest_rate(self) -> tuple[float, str | None]:
        """USD per second of the dearest GPU type the endpoint may get, and its price id."""
        from ...cost.catalog import load_catalog
        from ...cost.estimate import billed_rate

        catalog = load_catalog()
        offer = self.settings.cost.runpod_serverless_offer
        rates = [(0.0, None)]
        for name in self.settings.runpod.gpu_types:
            gpu = catalog.find_gpu(name)
            for price in catalog.gpu_offers(self.name) if gpu else []:
                if gpu.id in price.gpus and price.offer == offer:  # type: ignore[union-attr]
                    rates.append((billed_rate(catalog, self.settings, price), price.id))
        return max(rates, key=lambda r: r[0])
