"""The RunPod serverless backend: each stage that must run goes to a RunPod endpoint.

The client uploads what the stage reads to object storage (content-addressed, so a clip
is sent once), submits the job to the endpoint (``runpod.endpoint_id``; created by
``vfx-ingest deploy runpod-serverless``), follows its progress, and brings the outputs
back into the shot folder, verified. Chunkable stages on long plates fan out over
``max_workers`` jobs. Ctrl-C, errors and timeouts cancel the remote jobs.
"""

from __future__ import annotations

import threading

from ..config import Settings
from ..errors import BadInput
from ..job import Job, JobResult
from ..worker import EventFn, execute


class RunpodServerlessBackend:
    name = "runpod-serverless"

    def __init__(self, settings: Settings) -> None:
        # Everything checkable is checked here, before the shot folder is touched.
        rp = settings.runpod
        if not rp.endpoint_id:
            raise BadInput(
                "no RunPod serverless endpoint is configured",
                fix="Run `vfx-ingest deploy runpod-serverless` (it saves runpod.endpoint_id) "
                "or set VFX_INGEST_RUNPOD__ENDPOINT_ID",
            )
        from ..runpod_serverless.api import EndpointClient
        from ..storage import Store

        self.settings = settings
        self.store = Store(settings.s3)
        self.client = EndpointClient(
            rp.api_url,
            rp.endpoint_id,
            rp.api_key.get_secret_value() if rp.api_key else None,
        )

    def run(self, job: Job, on_event: EventFn, cancel: threading.Event) -> JobResult:
        from ..remote.client import RemoteOptions, RemoteRunner
        from ..runpod_serverless.api import RunpodTransport
        from ..storage import uses_volume

        rp, s3 = self.settings.runpod, self.settings.s3
        options = RemoteOptions(
            volume=uses_volume(s3),
            max_workers=self.settings.max_workers,
            poll_s=rp.poll_interval_s,
            timeout_s=rp.job_timeout_s,
            url_ttl_s=s3.url_ttl_s,
            info={"backend": self.name, "endpoint": rp.endpoint_id},
        )
        runner = RemoteRunner(job, RunpodTransport(self.client), self.store, on_event, options)
        try:
            return execute(job, on_event, cancel, runner=runner)
        finally:
            self.client.http.close()
