"""RunPod jobs that outlive their client or outgrow ``/run``: the real client code, our
RunPod-compatible endpoint (the runpod SDK's runtime running the real handler) and moto's
S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from vfx_ingest.backends.remote import Mailbox, RemoteOptions, RemoteRunner
from vfx_ingest.backends.runpod import handler
from vfx_ingest.backends.runpod.api import EndpointClient, RunpodTransport
from vfx_ingest.backends.runpod.serve import RUN_LIMIT, LocalEndpoint
from vfx_ingest.config import load_settings
from vfx_ingest.job import (
    Job,
    Liveness,
    MailboxObject,
    ObjectRef,
    RemoteIO,
    StageRequest,
    object_key,
)
from vfx_ingest.storage import Store
from vfx_ingest.worker.remote_io import VolumeObjects, Watchdog

from conftest import REPO

MAILBOX = "vfx-ingest/jobs/"


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_a_killed_client_leaves_no_job_running_and_no_mailbox(s3, clips, tmp_path):
    """SIGKILL the `vfx-ingest run` process of a running job: after the client timeout plus
    the cancel grace, the job has stopped and the bucket holds none of its mailbox."""
    client_timeout, grace = 2.0, 5.0
    clip = clips("big.mp4", frames=48, width=1280, height=720)
    with LocalEndpoint(cancel_grace_s=grace) as endpoint:
        env = {
            **os.environ,
            **s3.env(),
            "VFX_INGEST_RUNPOD__API_URL": endpoint.url,
            "VFX_INGEST_RUNPOD__ENDPOINT_ID": "local",
            "VFX_INGEST_RUNPOD__POLL_INTERVAL_S": "0.05",
            "VFX_INGEST_RUNPOD__CLIENT_TIMEOUT_S": str(client_timeout),
            "RUNPOD_API_KEY": endpoint.api_key,
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path]),
        }
        args = [sys.executable, "-m", "vfx_ingest", "run", str(clip), "--shot"]
        args += [str(tmp_path / "shot"), "--backend", "runpod-serverless"]
        args += ["--plate-format", "exr", "--workers", "1", "-q"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: any(j.progress for j in endpoint.jobs.values()), timeout=90)
            assert any(k.endswith("/alive.json") for k in s3.object_keys(MAILBOX))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
        (job,) = endpoint.jobs.values()
        assert job.returned.wait(client_timeout + grace + 10), "the job is still running"
        assert job.status == "FAILED" and "client was silent" in (job.error or "")
        assert endpoint.health()["workers"]["running"] == 0
        assert endpoint.recycled == 0
    assert s3.object_keys(MAILBOX) == []


@pytest.mark.timeout(180)
def test_a_job_of_20000_input_frames_travels_by_reference(s3, tmp_path):
    """Inline, 20,000 presigned input URLs are far over RunPod's 10 MB ``/run`` limit
    (the endpoint refuses it, as RunPod does); the client stores the document in the
    bucket instead and ``/run`` carries a reference the worker reads and checks."""
    settings = load_settings()
    store = Store(settings.s3)
    digest = hashlib.sha256(b"frame").hexdigest()
    key = object_key(store.cas_prefix, digest)
    url = store.presign_get(key, 3600)  # one signature, reused: signing 20,000 is slow
    inputs = [
        ObjectRef(relpath=f"plate/plate.{n:05d}.png", sha256=digest, size=5, key=key, url=url)
        for n in range(1001, 21001)
    ]
    options = RemoteOptions(inline_limit=1024 * 1024, url_ttl_s=600)
    seen: list[Job] = []

    def load_only(job, report, cancel):
        work = handler.load_job(job["input"])  # what the real handler does first
        seen.append(work)
        return {"inputs": len(work.remote.inputs)}

    with LocalEndpoint(handle=load_only) as endpoint:
        client = EndpointClient(endpoint.url, "local", endpoint.api_key)
        transport = RunpodTransport(client, {"executionTimeout": 60_000, "ttl": 120_000})
        with Mailbox(store, "big-job", options) as mailbox:
            job = Job(
                job_id="big-job",
                stages=[StageRequest(name="ingest")],
                remote=RemoteIO(access=mailbox.access(), output_prefix="x/", inputs=inputs),
            )
            inline = job.model_dump_json().encode()
            assert len(inline) > RUN_LIMIT
            refused = httpx.post(
                f"{endpoint.url}/run",
                content=b'{"input": {"action": "run", "job": ' + inline + b"}}",
                headers={
                    "Authorization": f"Bearer {endpoint.api_key}",
                    "Content-Type": "application/json",
                },
                timeout=60,
            )
            assert refused.status_code == 413
            runner = RemoteRunner(job, transport, store, lambda e: None, options)
            handle = runner.submit(job, mailbox)
            wait_for(lambda: transport.poll(handle).status == "done", timeout=60)
            assert transport.poll(handle).output == {"inputs": 20000}
            assert s3.object_keys(MAILBOX) == [f"{MAILBOX}big-job/job.json"]
        client.http.close()
    (received,) = seen
    assert received == job  # whole, and checked against its sha256 on the way
    sent = endpoint.jobs[handle].input
    assert set(sent) == {"action", "job_ref"} and sent["job_ref"]["size"] == len(inline)
    assert endpoint.jobs[handle].execution_timeout_s == 60
    assert s3.object_keys(MAILBOX) == []  # the document went with the mailbox


def test_a_stored_job_is_checked_against_the_storage_endpoint_too(s3):
    """`worker serve` reads a job sent by reference and refuses it when the stored document
    names objects elsewhere, as for a job sent inline."""
    store = Store(load_settings().s3)
    options = RemoteOptions(inline_limit=0, url_ttl_s=600)  # every job by reference
    seen: list[dict] = []

    def capture(job, report, cancel):
        seen.append(job["input"])
        return {"ok": True}

    with LocalEndpoint(handle=capture, storage_origins=[s3.url]) as endpoint:
        client = EndpointClient(endpoint.url, "local", endpoint.api_key)
        transport = RunpodTransport(client)
        answers = {}
        for name, url in (("on-storage", store.presign_get("k/a", 600)),
                          ("elsewhere", "http://127.0.0.1:9/health")):  # fmt: skip
            with Mailbox(store, name, options) as mailbox:
                inputs = [ObjectRef(relpath="plate/a.png", sha256="0" * 64, size=1, key="k/a",
                                    url=url)]  # fmt: skip
                job = Job(job_id=name, stages=[StageRequest(name="ingest")],
                          remote=RemoteIO(access=mailbox.access(), output_prefix="x/",
                                          inputs=inputs))  # fmt: skip
                runner = RemoteRunner(job, transport, store, lambda e: None, options)
                handle = runner.submit(job, mailbox)
                assert set(endpoint.jobs[handle].input) == {"action", "job_ref"}
                wait_for(lambda h=handle: endpoint.jobs[h].returned.is_set(), timeout=30)
                answers[name] = endpoint.jobs[handle].view()
        client.http.close()
    assert answers["on-storage"]["status"] == "COMPLETED"
    (inline,) = seen  # the refused job never reached the handler
    assert set(inline) == {"action", "job"} and inline["job"]["job_id"] == "on-storage"
    assert answers["elsewhere"]["status"] == "FAILED"
    assert "outside the storage endpoint (http://127.0.0.1:9)" in answers["elsewhere"]["error"]


def test_a_silent_client_is_noticed_on_a_network_volume_too(tmp_path):
    """With RunPod's S3 API the worker reads the heartbeat as a file on the volume and
    removes the mailbox files itself."""
    mount = tmp_path / "volume"
    jobs = mount / "vfx-ingest/jobs/j1"
    jobs.mkdir(parents=True)
    (jobs / "alive.json").write_text('{"beat": 1}')
    (jobs / "job.json").write_text("{}")
    liveness = Liveness(
        timeout_s=1.0,
        key="vfx-ingest/jobs/j1/alive.json",
        cleanup=[
            MailboxObject(key=f"vfx-ingest/jobs/j1/{n}.json") for n in ("alive", "job", "outbox")
        ],
    )
    cancel = threading.Event()
    watchdog = Watchdog(liveness, VolumeObjects(mount), cancel)
    for beat in range(2, 6):  # a live client: no cancel
        time.sleep(0.1)
        (jobs / "alive.json").write_text(f'{{"beat": {beat}}}')
    assert not cancel.is_set()
    assert cancel.wait(5), "a silent client was not noticed"
    watchdog.close()
    assert watchdog.abandoned and list(jobs.iterdir()) == []
