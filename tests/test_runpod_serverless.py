"""`run --backend runpod-serverless` end to end: our client, our RunPod-compatible endpoint
on 127.0.0.1 running the real handler on background threads (``vfx-ingest worker serve``;
it follows RunPod's published serverless API), and moto's S3 server for storage."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from vfx_ingest import pipeline
from vfx_ingest.backends.runpod.api import worker_error
from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.config import load_settings
from vfx_ingest.errors import BadInput
from vfx_ingest.job import ProgressEvent
from vfx_ingest.manifest import Manifest
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import Cancelled

from conftest import REPO, use_endpoint
from remote_stages import EXPLODE, SLOW

REMOTE = ("--backend", "runpod-serverless")


def manifest(shot: Path) -> Manifest:
    return Manifest.model_validate_json((shot / "shot.json").read_text())


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_remote_ingest_brings_back_the_same_plate_and_reruns_cost_nothing(
    endpoint, s3, clips, cli, tmp_path
):
    clip = clips(frames=10)
    local = cli("run", clip, "--shot", tmp_path / "local", "-q")
    assert local.exit_code == 0

    shot = tmp_path / "remote"
    result = cli("run", clip, "--shot", shot, *REMOTE, "--json")
    assert result.exit_code == 0, result.stderr
    lines = cli.json_lines(result.stdout)
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "ok"
    frames = [e for e in lines if e["type"] == "progress" and e["unit"] == "frames"]
    assert frames and frames[-1]["done"] == frames[-1]["total"] == 10  # from the worker
    uploads = [e for e in lines if e.get("unit") == "bytes" and e["message"] == "upload"]
    assert uploads[-1]["done"] == clip.stat().st_size
    # The same stage code ran on the worker: the plate is byte for byte the local one.
    remote_plate = {p.name: p.read_bytes() for p in (shot / "plate").iterdir()}
    assert remote_plate == {p.name: p.read_bytes() for p in (tmp_path / "local/plate").iterdir()}
    record = manifest(shot).stages["ingest"]
    assert record.status == "done" and record.backend == "runpod-serverless"
    assert record.cost_usd is None  # unknown until priced, never made up
    stats = record.stats["remote"]
    assert stats["endpoint"] == "local" and stats["uploaded_bytes"] == clip.stat().st_size
    assert stats["downloaded_bytes"] == sum(len(b) for b in remote_plate.values())
    assert stats["execution_s"] > 0 and stats["job"].startswith("local-")
    # wall_s is the job's (billed) execution time; what we waited is elapsed_s.
    assert record.wall_s == stats["execution_s"] <= record.stats["elapsed_s"]
    assert manifest(shot).frames.count == 10  # the worker's frame map came back
    assert not list(shot.glob(".staging/*"))
    jobs_after_first = endpoint.health()["jobs"]["completed"]

    cached = cli("run", clip, "--shot", shot, *REMOTE, "--json")
    assert cli.json_lines(cached.stdout)[0]["status"] == "cached"
    assert endpoint.health()["jobs"]["completed"] == jobs_after_first  # no GPU started

    forced = cli("run", clip, "--shot", shot, *REMOTE, "--force", "--json")
    assert forced.exit_code == 0
    again = cli.json_lines(forced.stdout)[-1]["records"][0]["stats"]["remote"]
    assert again["uploaded_bytes"] == 0  # the clip is in the bucket already
    assert not s3.object_keys("vfx-ingest/jobs/")  # mailboxes are cleaned up


def test_worker_failure_exits_1_with_the_workers_error(endpoint, clips, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "explode", EXPLODE)
    shot = tmp_path / "shot"
    result = cli("run", clips(frames=4), "--shot", shot, "--stages", "explode", *REMOTE)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "boom on the worker" in result.stderr
    record = manifest(shot).stages["explode"]
    assert record.status == "failed" and "boom on the worker" in (record.error or "")
    assert not (shot / "explode").exists()


def test_cancel_stops_the_remote_job_and_nothing_keeps_running(
    endpoint, clips, tmp_path, monkeypatch
):
    monkeypatch.setitem(REGISTRY, "slow", SLOW)
    cancel = threading.Event()
    progress: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.unit == "frames":
            progress.append(event.done)
            if event.done >= 3:
                cancel.set()

    request = pipeline.RunRequest(
        clip=clips(frames=4), shot=tmp_path / "shot", stages=["slow"], backend="runpod-serverless"
    )
    with pytest.raises(Cancelled):
        pipeline.run(request, load_settings(), on_event, cancel)
    assert progress and progress[-1] < 200
    (job,) = endpoint.jobs.values()
    assert job.status == "CANCELLED"
    assert job.returned.wait(5), "the worker thread must stop"
    assert endpoint.health()["jobs"]["inProgress"] == 0
    record = manifest(tmp_path / "shot").stages["slow"]
    assert record.status == "failed" and "interrupted" in (record.error or "")


def test_client_timeout_cancels_the_remote_job(endpoint, clips, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "slow", SLOW)
    monkeypatch.setenv("VFX_INGEST_RUNPOD__JOB_TIMEOUT_S", "0.5")
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", "--stages", "slow", *REMOTE)
    assert result.exit_code == 1 and "did not finish within 0.5 s" in result.stderr
    (job,) = endpoint.jobs.values()
    assert job.status == "CANCELLED" and job.returned.wait(5)


def test_the_jobs_execution_timeout_is_sent_and_reported(s3, clips, cli, tmp_path, monkeypatch):
    """Each job carries ``policy.executionTimeout`` (and ``ttl``); past it, RunPod (here the
    local endpoint, which honours the policy over its own limit) stops the job."""
    monkeypatch.setitem(REGISTRY, "slow", SLOW)
    monkeypatch.setenv("VFX_INGEST_RUNPOD__EXECUTION_TIMEOUT_S", "0.3")
    with LocalEndpoint(execution_timeout_s=3600) as server:
        use_endpoint(server, monkeypatch)
        result = cli("run", clips(frames=4), "--shot", tmp_path / "s", "--stages", "slow", *REMOTE)
        (job,) = server.jobs.values()
        assert job.status == "TIMED_OUT" and job.returned.wait(5)
        assert job.execution_timeout_s == 0.3 and job.ttl_s == 7200
    assert result.exit_code == 1 and "timed out" in result.stderr


def test_the_client_authenticates_and_a_bad_key_is_bad_input(s3, clips, tmp_path, monkeypatch):
    with LocalEndpoint(api_key="rpa_right-key-123456") as server:
        monkeypatch.setenv("VFX_INGEST_RUNPOD__API_URL", server.url)
        monkeypatch.setenv("VFX_INGEST_RUNPOD__ENDPOINT_ID", "local")
        monkeypatch.setenv("RUNPOD_API_KEY", "rpa_wrong-key-654321")
        request = pipeline.RunRequest(
            clip=clips(frames=4), shot=tmp_path / "s", backend="runpod-serverless"
        )
        result = pipeline.run(request, load_settings(), lambda e: None)
        assert result.status == "failed" and "refused the API key" in (result.error or "")
        monkeypatch.setenv("RUNPOD_API_KEY", "rpa_right-key-123456")
        monkeypatch.setenv("VFX_INGEST_RUNPOD__POLL_INTERVAL_S", "0.05")
        assert pipeline.run(request, load_settings(), lambda e: None).status == "ok"


def test_missing_configuration_fails_before_anything_is_written(clips, cli, tmp_path, monkeypatch):
    shot = tmp_path / "shot"
    result = cli("run", clips(frames=4), "--shot", shot, *REMOTE)
    assert result.exit_code == 2 and "no RunPod serverless endpoint" in result.stderr
    monkeypatch.setenv("VFX_INGEST_RUNPOD__ENDPOINT_ID", "abc123")
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_some-key-123456")
    result = cli("run", clips(frames=4), "--shot", shot, *REMOTE)
    assert result.exit_code == 2 and "no object storage" in result.stderr
    assert not shot.exists()


def test_worker_errors_read_from_the_sdks_json():
    sdk = json.dumps(
        {
            "error_type": "<class 'ValueError'>",
            "error_message": "bad value",
            "error_traceback": "Traceback...",
        }
    )
    assert worker_error(sdk) == "ValueError: bad value"
    assert worker_error("plain message\nmore") == "plain message"
    assert worker_error(None) is None
    assert "X-Amz" not in (worker_error("see https://h/b/k?X-Amz-Signature=abc") or "")


def test_ctrl_c_cancels_the_remote_job(endpoint, s3, clips, tmp_path):
    """SIGINT to a real `vfx-ingest run` process: it cancels its remote job and exits 130."""
    clip = clips("big.mp4", frames=48, width=1280, height=720)
    shot = tmp_path / "shot"
    env = {**s3.env(), "VFX_INGEST_RUNPOD__API_URL": endpoint.url}
    env |= {"VFX_INGEST_RUNPOD__ENDPOINT_ID": "local", "VFX_INGEST_RUNPOD__POLL_INTERVAL_S": "0.05"}
    args = [sys.executable, "-m", "vfx_ingest", "run", str(clip), "--shot", str(shot), *REMOTE]
    args += ["--plate-format", "exr", "--workers", "1"]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *sys.path])
    proc = subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(j.progress for j in endpoint.jobs.values()), timeout=60)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    (job,) = endpoint.jobs.values()
    assert job.status == "CANCELLED"
    assert job.returned.wait(10), "the remote job must stop"
    assert manifest(shot).stages["ingest"].status == "failed"


def test_unknown_backend_names_the_known_ones(tmp_path):
    with pytest.raises(BadInput, match="runpod-serverless"):
        pipeline.run(
            pipeline.RunRequest(clip=tmp_path / "x.mp4", backend="nope"), load_settings(), print
        )


def test_worker_serve_command_serves_the_api_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vfx_ingest",
            "worker",
            "serve",
            "--api",
            "runpod-serverless",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stderr.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        token = proc.stderr.readline().rsplit(" ", 1)[-1].strip()  # type: ignore[union-attr]
        auth = {"Authorization": f"Bearer {token}"}
        health = httpx.get(f"{url.group(0)}/v2/local/health", headers=auth, timeout=10).json()
        assert health["workers"] == {"idle": 1, "running": 0}
        missing = httpx.get(f"{url.group(0)}/status/nope", headers=auth, timeout=10)
        assert missing.status_code == 404
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130
    finally:
        proc.kill()


def test_the_cost_meter_is_ticked_and_stops_remote_work(endpoint, clips, tmp_path, monkeypatch):
    from vfx_ingest.backends.runpod.serverless import RunpodServerlessBackend
    from vfx_ingest.cost.meter import CostMeter

    monkeypatch.setitem(REGISTRY, "slow", SLOW)
    settings = load_settings()
    backend = RunpodServerlessBackend(settings)
    job = pipeline.plan(
        pipeline.RunRequest(clip=clips(frames=4), shot=tmp_path / "s", stages=["slow"]), settings
    )
    job = job.model_copy(update={"backend": backend.name})
    cancel = threading.Event()
    meter = CostMeter(0.0002, cancel)  # an RTX 4090 flex worker passes it in about a second
    started = time.monotonic()
    with pytest.raises(Cancelled):
        backend.run(job, lambda e: None, cancel, meter=meter)
    assert meter.exceeded and meter.price_id and meter.price_id.startswith("runpod-serverless/")
    assert 0 < meter.billed_s <= time.monotonic() - started
    (remote,) = endpoint.jobs.values()
    assert remote.status == "CANCELLED" and remote.returned.wait(5)

    monkeypatch.setenv("VFX_INGEST_RUNPOD__GPU_TYPES", '["Imaginary GPU 9000"]')
    unpriced = RunpodServerlessBackend(load_settings())
    with pytest.raises(BadInput, match="no price is known"):
        unpriced.run(job, lambda e: None, threading.Event(), meter=CostMeter(1.0, cancel))
