"""`run --backend runpod-pod` against a double of RunPod's REST API v2 on 127.0.0.1
(``runpod_pod_double``: every request checked against the published schema, pods whose
``args`` run as real subprocesses with a pod-scoped key, RunPod's proxy on loopback, a
billing ledger; never more forgiving than RunPod), moto's S3 server for storage, and the
real worker, watchdog and handler inside the "pod".

Every scenario ends by asserting that the double holds no live pod and billed nothing
after the run's end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runpod_pod_double import RunpodPodDouble
from vfx_ingest.manifest import Manifest

from conftest import REPO, hub_snapshot
from modal_stages import WEIGHTS

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
    assert 0 < record.stats["cold_start_s"] < usage["billed_s"]  # priced with the stage
    # Every request the client sent was valid under the published schema.
    creates = [b for m, path, b in double.requests if (m, path) == ("POST", "/v2/pods")]
    assert creates and not double.schema.request_errors("/v2/pods", "POST", creates[0])
    assert ledger(tmp_path / "home") == {}
    # A rerun finds every stage cached: it starts no pod at all.
    cached = cli("run", clip, "--shot", shot, *POD, "--json")
    assert cli.json_lines(cached.stdout)[0]["status"] == "cached"
    assert len(double.pods) == 1


def status_of(pod) -> dict:
    try:
        return json.loads((pod.folder / "tmp" / "vfx-ingest-pod-status.json").read_text())
    except (OSError, ValueError):
        return {}


def busy(double: RunpodPodDouble) -> bool:
    return any(status_of(p).get("busy") for p in double.live_pods())


def start_run(clip: Path, shot: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    args = [sys.executable, "-m", "vfx_ingest", "run", str(clip), "--shot", str(shot), *POD]
    args += ["--plate-format", "exr", "-q", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def big_clip(clips) -> Path:
    return clips("big.mp4", frames=48, width=1280, height=720)


@contextlib.contextmanager
def mid_stage(double: RunpodPodDouble, clips, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A `vfx-ingest run` process whose stage is running on its pod (killed at the end)."""
    proc = start_run(big_clip(clips), tmp_path / "shot")
    try:
        wait_for(lambda: busy(double), 90)
        yield proc
    finally:
        proc.kill()


def own_deletes(double: RunpodPodDouble, pod) -> list[str]:
    """What the pod's own watchdog asked of RunPod (with its pod-scoped key)."""
    return [method for pod_id, method, _ in double.pod_requests if pod_id == pod.id]


@pytest.mark.timeout(180)
def test_a_killed_client_leaves_a_pod_that_terminates_itself(double, clips, tmp_path):
    with mid_stage(double, clips, tmp_path) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
    (pod,) = double.pods.values()
    wait_for(lambda: pod.status == "TERMINATED", 4 + 30)
    assert time.monotonic() - killed <= 4 + 30
    assert own_deletes(double, pod) == ["DELETE"]
    assert "no client request" in (pod.folder / "container.log").read_text()
    assert_nothing_bills(double)


@pytest.mark.timeout(180)
def test_a_crashed_worker_server_ends_its_pod_and_the_run_fails(double, clips, tmp_path):
    with mid_stage(double, clips, tmp_path) as proc:
        (pod,) = double.live_pods()
        children = Path(f"/proc/{pod.process.pid}/task/{pod.process.pid}/children")
        (server,) = children.read_text().split()
        os.kill(int(server), signal.SIGKILL)
        assert proc.wait(60) == 1
    assert "worker server exited" in (pod.folder / "container.log").read_text()
    assert "DELETE" in own_deletes(double, pod)
    assert_nothing_bills(double)


@pytest.mark.timeout(120)
def test_a_kept_pod_ends_at_its_deadline(double, clips, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VFX_INGEST_RUNPOD__POD_IDLE_TIMEOUT_S", "600")
    double.delete_answers = [500]  # the watchdog's first DELETE: retried with backoff
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD, "--keep-pod",
                 "--pod-deadline", "0.003")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (pod,) = double.pods.values()
    assert pod.status == "RUNNING"  # kept, past the client's silence rule
    assert "pods gc" in result.stderr
    # The worker answers only its own token, also through RunPod's proxy.
    health = f"{double.proxy_url}/{pod.id}-8000/pod/health"
    assert httpx.get(health).status_code == 401
    assert httpx.get(health, headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
    token = pod.body["env"]["VFX_INGEST_POD_TOKEN"]
    assert httpx.get(health, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wait_for(lambda: pod.status == "TERMINATED", 30)
    assert "deadline passed" in (pod.folder / "container.log").read_text()
    assert own_deletes(double, pod) == ["DELETE", "DELETE"]
    assert_nothing_bills(double)


@pytest.mark.timeout(120)
def test_a_kept_pod_ends_when_idle_and_is_stopped_when_delete_is_refused(
    double, clips, cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("VFX_INGEST_RUNPOD__POD_IDLE_TIMEOUT_S", "6")
    double.forbid_pod_delete = True
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD, "--keep-pod")
    assert result.exit_code == 0, result.stderr
    (pod,) = double.pods.values()
    wait_for(lambda: pod.status == "EXITED", 30)
    assert own_deletes(double, pod) == ["DELETE", "POST"]  # refused, then the stop action
    assert "no job for" in (pod.folder / "container.log").read_text()
    assert_nothing_bills(double)
    gc = cli("pods", "gc", "--all", "--json")
    assert gc.exit_code == 0 and json.loads(gc.stdout)["removed"] == 1
    assert pod.status == "TERMINATED"


@pytest.mark.timeout(120)
def test_a_run_first_terminates_the_pods_of_dead_clients(double, clips, cli, tmp_path):
    from vfx_ingest.backends.runpod.pod.control import PodControl
    from vfx_ingest.backends.runpod.pod.ledger import Ledger, PodEntry

    control = PodControl(double.url, KEY)
    body = {"name": "vfx-ingest-orphan", "image": "x", "gpu": {"id": GPU}, "args": "sleep 600"}
    orphan = control.create(body)
    control.close()
    gone_pid = subprocess.Popen(["true"])
    gone_pid.wait()
    Ledger().add(
        PodEntry(pod_id=orphan["id"], run_id="orphan", name=orphan["name"],
                 client_pid=gone_pid.pid, usd_per_hour=orphan["cost"], gpu=GPU)
    )  # fmt: skip
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 0, result.stderr
    assert double.pod(orphan["id"]).status == "TERMINATED"
    assert ledger(tmp_path / "home") == {}
    assert_nothing_bills(double)


def test_a_pod_that_never_starts_is_terminated_and_the_next_gpu_used(
    double, clips, cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("VFX_INGEST_RUNPOD__POD_START_TIMEOUT_S", "8")
    double.stall.add(GPU)  # its image pull never finishes
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 0, result.stderr
    first, second = double.pods.values()
    assert first.body["gpu"]["id"] == GPU and first.status == "TERMINATED"
    assert first.process is None  # it never ran, and stopped billing when terminated
    assert second.body["gpu"]["id"] == "NVIDIA RTX A5000" and second.status == "TERMINATED"
    assert_nothing_bills(double)


def test_no_capacity_moves_to_the_next_gpu_type(double, clips, cli, tmp_path):
    double.no_capacity.add(GPU)
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD, "--gpu", GPU)
    assert result.exit_code == 0, result.stderr
    (pod,) = double.pods.values()
    assert pod.body["gpu"]["id"] == "NVIDIA RTX A5000"
    assert_nothing_bills(double)


def test_no_capacity_anywhere_fails_with_one_line(double, clips, cli, tmp_path):
    double.no_capacity.update({GPU, "NVIDIA RTX A5000"})
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 1
    assert "no pod could be started" in result.stderr and "no longer any instances" in result.stderr
    assert not double.pods
    assert_nothing_bills(double)


def test_a_lost_create_answer_leaves_a_pod_that_pods_gc_finds_by_name(double, clips, cli, tmp_path):
    double.lose_create_answers = 1
    double.fail_lists = 100  # and the client cannot look it up by name either
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 1 and "pods gc --older-than 0s" in result.stderr
    double.fail_lists = 0
    (pod,) = double.pods.values()
    listed = cli("pods", "list", "--json")
    assert listed.exit_code == 0
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [pod.id]
    assert "not in this machine's ledger" in listed.stdout
    human = cli("pods", "list")
    assert pod.id in human.stdout and "$0.69/h" in human.stdout
    assert max(len(line) for line in human.stdout.splitlines()) <= 80
    kept = cli("pods", "gc", "--json")  # younger than the default age: another run's?
    assert json.loads(kept.stdout)["removed"] == 0
    gc = cli("pods", "gc", "--older-than", "0s", "--json")
    assert gc.exit_code == 0 and json.loads(gc.stdout)["removed"] == 1
    assert pod.status == "TERMINATED"
    assert_nothing_bills(double)


def test_a_lost_create_answer_for_a_pod_that_never_starts_is_found_and_ended(
    double, clips, cli, tmp_path
):
    """No ledger entry, and no watchdog either (its image never starts): the client finds
    the pod by its name and terminates it before it exits."""
    double.lose_create_answers = 1
    double.stall.add(GPU)
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 1 and "answer to the pod create was lost" in result.stderr
    (pod,) = double.pods.values()
    assert pod.status == "TERMINATED"
    assert_nothing_bills(double)


def test_a_delete_answered_500_is_retried(double, clips, cli, tmp_path):
    double.delete_answers = [500]
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", *POD)
    assert result.exit_code == 0, result.stderr
    (pod,) = double.pods.values()
    deletes = [r for r in double.requests if r[0] == "DELETE" and r[1] == f"/v2/pods/{pod.id}"]
    assert len(deletes) == 2 and pod.status == "TERMINATED"
    assert_nothing_bills(double)


@pytest.mark.timeout(180)
def test_ctrl_c_terminates_the_pod_and_exits_130(double, clips, tmp_path):
    with mid_stage(double, clips, tmp_path) as proc:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    (pod,) = double.pods.values()
    assert pod.status == "TERMINATED" and own_deletes(double, pod) == []  # the client's
    assert ledger(tmp_path / "home") == {}
    assert_nothing_bills(double)


@pytest.mark.timeout(180)
def test_max_cost_stops_the_run_and_terminates_the_pod(double, clips, tmp_path):
    # The estimate ($0.01 from the catalog) passes; the pod RunPod gives costs $100/h, so
    # $0.10 is 3.6 s of pod, and the meter (at the pod's own rate) stops the run.
    next(g for g in double.gpus if g["id"] == GPU)["price"]["secure"] = 100.0
    proc = start_run(big_clip(clips), tmp_path / "shot", "--max-cost", "0.10")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1 and b"max-cost" in err, err
    (pod,) = double.pods.values()
    assert pod.status == "TERMINATED" and own_deletes(double, pod) == []
    assert pod.billed_s() < 4 + 10
    assert_nothing_bills(double)


def test_a_pod_worker_fetches_an_input_once_and_never_trusts_a_rotten_copy(tmp_path, monkeypatch):
    """On a pod, later stages read the plate from the worker's object cache."""
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vfx_ingest.job import ObjectRef
    from vfx_ingest.worker.remote_io import OBJECT_CACHE_ENV, UrlObjects

    data = b"plate bytes " * 1000
    hits: list[str] = []

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(OBJECT_CACHE_ENV, str(tmp_path / "cache"))
        sha = hashlib.sha256(data).hexdigest()
        url = f"http://127.0.0.1:{server.server_address[1]}/object"
        ref = ObjectRef(
            relpath="plate/plate.1001.png", sha256=sha, size=len(data), key="k", url=url
        )
        objects = UrlObjects()
        for job in ("first", "second"):
            objects.fetch(ref, tmp_path / job / "plate.1001.png")
            assert (tmp_path / job / "plate.1001.png").read_bytes() == data
        assert len(hits) == 1
        (tmp_path / "cache" / sha).unlink()
        (tmp_path / "cache" / sha).write_bytes(b"x" * len(data))  # rotten
        objects.fetch(ref, tmp_path / "third" / "plate.1001.png")
        assert (tmp_path / "third" / "plate.1001.png").read_bytes() == data
        assert len(hits) == 2
    finally:
        server.shutdown()
        server.server_close()


COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHT_BYTES = b"not really video depth anything" * 100


def test_models_sync_to_the_network_volume_sends_each_file_once(
    double, s3, cli, tmp_path, monkeypatch
):
    """moto stands in for the volume's S3 API; the volume is created through REST v2."""
    from vfx_ingest.backends.runpod.pod.volume import require
    from vfx_ingest.config import load_settings
    from vfx_ingest.errors import BadInput
    from vfx_ingest.job import ModelRef

    hub = tmp_path / "hub"
    repo = hub_snapshot(
        hub, "depth-anything/Video-Depth-Anything-Base", WEIGHTS, WEIGHT_BYTES, COMMIT
    )
    monkeypatch.setenv("VFX_INGEST_HF_CACHE", str(hub))
    monkeypatch.setenv("VFX_INGEST_RUNPOD__VOLUME_S3_URL", s3.url)
    double.on_volume_created = lambda volume_id: s3.client.create_bucket(Bucket=volume_id)

    first = cli("models", "sync", "vda-base", "--to", "runpod-pod", "--json")
    assert first.exit_code == 0, first.stderr
    (sent,) = [line for line in cli.json_lines(first.stdout) if line["type"] == "uploaded"]
    assert (sent["uploaded"], sent["skipped"]) == (2, 0)  # the weights and refs/main
    (volume,) = double.volumes.values()
    assert volume["dataCenter"] == "EU-RO-1"
    assert load_settings().runpod.network_volume_id == volume["id"]  # saved for later runs
    key = f"vfx-ingest/hf/{repo.name}/snapshots/{COMMIT}/{WEIGHTS}"
    body = s3.client.get_object(Bucket=volume["id"], Key=key)["Body"].read()
    assert body == WEIGHT_BYTES
    second = cli("models", "sync", "vda-base", "--to", "runpod", "--json")
    (sent,) = [line for line in cli.json_lines(second.stdout) if line["type"] == "uploaded"]
    assert (sent["uploaded"], sent["uploaded_bytes"], sent["skipped"]) == (0, 0, 2)
    assert len(double.volumes) == 1

    # A run checks the volume before it pays for a pod: intact passes, damaged is named.
    settings = load_settings()
    require(settings, [ModelRef(id="vda-base")])
    s3.client.put_object(Bucket=volume["id"], Key=key, Body=b"truncated")
    with pytest.raises(BadInput) as info:
        require(settings, [ModelRef(id="vda-base")])
    assert "vda-base" in info.value.line()
    assert "vfx-ingest models sync vda-base --to runpod-pod" in info.value.line()
    assert not double.pods


def test_the_watchdog_rules():
    """Each rule alone ends the pod; a kept pod ignores its client's silence only."""
    from vfx_ingest.backends.runpod.pod.watchdog import reason_to_end

    def rule(status: dict, now: float = 1000.0, deadline: float = 5000.0) -> str | None:
        return reason_to_end(status, 0.0, now, heartbeat_s=120, idle_s=300, deadline=deadline)

    fresh = {"last_request": 990.0, "busy": 0, "last_busy": 990.0}
    assert rule(fresh) is None
    assert "no client request" in rule({**fresh, "last_request": 800.0})
    assert rule({**fresh, "last_request": 800.0, "kept": True}) is None
    assert "no job" in rule({**fresh, "last_busy": 600.0, "kept": True})
    assert rule({**fresh, "last_busy": 600.0, "busy": 1}) is None  # a job is running
    assert "deadline" in rule({**fresh, "busy": 1}, deadline=999.0)
    assert "no client request" in rule({}, now=121.0)  # never heard from: since its start
