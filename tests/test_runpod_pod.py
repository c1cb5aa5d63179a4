"""`run --backend runpod-pod` against a double of RunPod's REST API v2 on 127.0.0.1
(``runpod_pod_double``: every request checked against the published schema, pods whose
``args`` run as real subprocesses with a pod-scoped key, RunPod's proxy on loopback, a
billing ledger; never more forgiving than RunPod), moto's S3 server for storage, and the
real worker, watchdog and handler inside the "pod".

Every scenario ends by asserting that the double holds no live pod and billed nothing
after the run's end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vfx_ingest.manifest import Manifest

from conftest import REPO
from runpod_pod_double import RunpodPodDouble

KEY = "user-key-0123456789"
POD = ("--backend", "runpod-pod")
GPU = "NVIDIA GeForce RTX 4090"


@pytest.fixture
def double(tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch):
    with RunpodPodDouble(KEY, tmp_path / "pods") as server:
        (tmp_path / "pods").mkdir(exist_ok=True)
        settings = {
            "RUNPOD_API_KEY": KEY,
            "VFX_INGEST_RUNPOD__REST_URL": server.url,
            "VFX_INGEST_RUNPOD__POD_URL": server.pod_url,
            "VFX_INGEST_RUNPOD__IMAGE": "registry.example/vfx-ingest-worker:test",
            "VFX_INGEST_RUNPOD__GPU_TYPES": json.dumps([GPU, "NVIDIA RTX A5000"]),
            "VFX_INGEST_RUNPOD__POLL_INTERVAL_S": "0.1",
            "VFX_INGEST_RUNPOD__POD_START_TIMEOUT_S": "30",
            "VFX_INGEST_RUNPOD__POD_HEARTBEAT_TIMEOUT_S": "4",
            "VFX_INGEST_RUNPOD__POD_IDLE_TIMEOUT_S": "30",
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        yield server
        # Whatever the scenario, nothing may be left running or billing.
        end = time.time()
        wait_for(lambda: not server.live_pods(), 40)
        assert server.billed_after(end + 1.0) == 0


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def assert_nothing_bills(double: RunpodPodDouble) -> None:
    end = time.time()
    assert not double.live_pods()
    time.sleep(0.2)
    assert double.billed_after(end) == 0


def ledger(home: Path) -> dict:
    path = home / "data" / "vfx-ingest" / "pods.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_a_pod_run_brings_back_the_local_plate_and_terminates_its_pod(double, clips, cli, tmp_path):
    clip = clips(frames=8)
    assert cli("run", clip, "--shot", tmp_path / "local", "-q").exit_code == 0
    shot = tmp_path / "pod"
    result = cli("run", clip, "--shot", shot, *POD, "--json")
    assert result.exit_code == 0, result.stderr
    assert_nothing_bills(double)
    plate = {p.name: p.read_bytes() for p in (shot / "plate").iterdir()}
    assert plate == {p.name: p.read_bytes() for p in (tmp_path / "local/plate").iterdir()}
    (pod,) = double.pods.values()
    body = pod.body
    assert body["name"].startswith("vfx-ingest-") and body["args"].startswith(
        "vfx-ingest worker pod"
    )
    assert KEY not in json.dumps(body)  # the user's key never goes into the pod
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert record.backend == "runpod-pod" and record.stats["remote"]["pod"] == pod.id
    usage = record.stats["pod"]
    assert usage["usd_per_hour"] == pod.rate and usage["cost_usd"] > 0
    # The record's billed time covers creation to termination, as the double billed it.
    assert abs(usage["billed_s"] - pod.billed_s()) < 2.0
    # Every request the client sent was valid under the published schema.
    creates = [b for m, path, b in double.requests if (m, path) == ("POST", "/v2/pods")]
    assert creates and not double.schema.request_errors("/v2/pods", "POST", creates[0])
    assert ledger(tmp_path / "home") == {}
