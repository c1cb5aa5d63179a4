"""The handler under the RunPod SDK's own worker runtime, with moto's S3 server.

The client code (``RemoteRunner``: uploads, presigned URLs, the output mailbox, download
and verification) drives the SDK's two local modes through small transports:
``--test_input`` (one job in a subprocess) and the SDK's development API server
(``--rp_serve_api``, ``POST /runsync``).
"""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from vfx_ingest import pipeline
from vfx_ingest.backends.remote import RemoteOptions, RemoteRunner, RemoteState
from vfx_ingest.config import load_settings
from vfx_ingest.job import JobResult
from vfx_ingest.manifest import Manifest
from vfx_ingest.storage import Store
from vfx_ingest.worker import execute

from conftest import REPO

HANDLER = [sys.executable, "-m", "vfx_ingest.backends.runpod.handler"]


def worker_env() -> dict[str, str]:
    """The worker's environment: no storage credentials at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VFX_INGEST_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


class SdkTestInputTransport:
    """Runs each job with ``python -m ...handler --test_input '{"input": ...}'``."""

    name = "runpod-sdk-test-input"

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.outputs: dict[str, tuple[str, str]] = {}

    def submit(self, payload: dict[str, Any]) -> str:
        handle = f"proc-{len(self.procs)}"
        self.procs[handle] = subprocess.Popen(
            [*HANDLER, "--test_input", json.dumps({"input": payload})],
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return handle

    def poll(self, handle: str) -> RemoteState:
        proc = self.procs[handle]
        if proc.poll() is None:
            return RemoteState(status="running")
        stdout, stderr = proc.communicate()
        self.outputs[handle] = (stdout, stderr)
        # The SDK's local runner logs "Job result: {...}" (a Python literal) and exits 0.
        line = next((x for x in stdout.splitlines() if "Job result: " in x), None)
        if proc.returncode != 0 or line is None:
            return RemoteState(status="failed", error=stdout[-2000:] + stderr[-2000:])
        result = ast.literal_eval(line.split("Job result: ", 1)[1])
        return RemoteState(status="done", output=result["output"])

    def cancel(self, handle: str) -> None:
        self.procs[handle].kill()


class RunsyncTransport:
    """``POST /runsync`` to the SDK's development API server, on a thread."""

    name = "runpod-sdk-api"

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: dict[str, dict] = {}
        self.threads: dict[str, threading.Thread] = {}

    def submit(self, payload: dict[str, Any]) -> str:
        handle = f"sync-{len(self.threads)}"

        def post() -> None:
            response = httpx.post(f"{self.url}/runsync", json={"input": payload}, timeout=120)
            self.answers[handle] = response.json()

        self.threads[handle] = threading.Thread(target=post)
        self.threads[handle].start()
        return handle

    def poll(self, handle: str) -> RemoteState:
        if self.threads[handle].is_alive():
            return RemoteState(status="running")
        answer = self.answers[handle]
        if answer["status"] != "COMPLETED":
            return RemoteState(status="failed", error=str(answer.get("error")))
        return RemoteState(status="done", output=answer["output"])

    def cancel(self, handle: str) -> None:
        return None  # /runsync cannot be cancelled; the thread ends with the request


def run_remote(clip: Path, shot: Path, transport: Any, signatures: list[str]) -> JobResult:
    """Plan an ingest locally and run it through ``transport`` with the real client code."""
    settings = load_settings()
    job = pipeline.plan(pipeline.RunRequest(clip=clip, shot=shot), settings)
    job = job.model_copy(update={"backend": transport.name})
    store = Store(settings.s3)
    for name in ("presign_get", "presign_put"):
        real = getattr(store, name)

        def spy(key: str, expires: int, real=real) -> str:
            url = real(key, expires)
            signatures.append(url.split("X-Amz-Signature=")[1])
            return url

        setattr(store, name, spy)
    options = RemoteOptions(poll_s=0.05, timeout_s=120, url_ttl_s=300)
    runner = RemoteRunner(job, transport, store, lambda e: None, options)
    return execute(job, None, None, runner=runner)


def test_handler_under_the_sdks_test_input_runtime(s3, clips, tmp_path):
    clip, shot = clips(frames=6), tmp_path / "shot"
    transport = SdkTestInputTransport()
    signatures: list[str] = []
    result = run_remote(clip, shot, transport, signatures)
    assert result.status == "ok", result.error
    assert len(list((shot / "plate").glob("plate.*.png"))) == 6
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert record.status == "done" and record.backend == "runpod-sdk-test-input"
    # Outputs came back through the mailbox as content-addressed objects.
    cas = s3.object_keys("vfx-ingest/cas/")
    assert all(
        store_key in cas
        for store_key in (
            f"vfx-ingest/cas/{d.sha256[:2]}/{d.sha256}" for d in record.outputs.values()
        )
    )
    ((stdout, stderr),) = transport.outputs.values()
    assert "Job result" in stdout
    assert signatures and not any(sig in stdout + stderr for sig in signatures)
    assert s3.secret not in stdout + stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sdk_api() -> Any:
    """The SDK's development API server (uvicorn) on 127.0.0.1, stopped after the test."""
    port = free_port()
    proc = subprocess.Popen(
        [*HANDLER, "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)],
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/docs", timeout=1, follow_redirects=True).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the SDK's API server did not start"
        time.sleep(0.1)
    yield url, proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_handler_under_the_sdks_api_server_runsync(s3, clips, tmp_path, sdk_api):
    url, _proc = sdk_api
    health = httpx.post(f"{url}/runsync", json={"input": {"action": "health"}}, timeout=60).json()
    assert health["status"] == "COMPLETED"
    assert health["output"]["ok"] is True and "ingest" in health["output"]["stages"]
    refused = httpx.post(
        f"{url}/runsync",
        json={"input": {"action": "run", "job": {"stages": [{"name": "ingest"}], "shot": "/etc"}}},
        timeout=60,
    ).json()
    assert refused["status"] == "FAILED" and "must carry remote inputs" in refused["error"]

    signatures: list[str] = []
    shot = tmp_path / "shot"
    result = run_remote(clips(frames=6), shot, RunsyncTransport(url), signatures)
    assert result.status == "ok", result.error
    assert len(list((shot / "plate").glob("plate.*.png"))) == 6
    assert not any(sig in (shot / "shot.json").read_text() for sig in signatures)
