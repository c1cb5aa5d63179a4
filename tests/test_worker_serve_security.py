"""`vfx-ingest worker serve` is a server on the network: it authenticates, takes only JSON,
fetches only from the configured storage, keeps job ids out of paths, and cleans up after
jobs whose worker died (issue 17, items 15-17)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.job import Job, ObjectRef, PresignedAccess, RemoteIO, StageRequest
from vfx_ingest.worker.remote_io import SCRATCH_ENV, scratch_folder

from conftest import REPO


def post(endpoint: LocalEndpoint, path: str, body: bytes, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {endpoint.api_key}", "Content-Type": "application/json"}
    return httpx.post(f"{endpoint.url}{path}", content=body, headers=auth | headers, timeout=10)


def finished(endpoint: LocalEndpoint, job_id: str) -> dict:
    job = endpoint.jobs[job_id]
    assert job.done.wait(30) and job.returned.wait(30)
    return job.view()


def test_requests_need_the_token_and_json() -> None:
    with LocalEndpoint() as endpoint:
        assert len(endpoint.api_key) >= 32  # generated, unguessable
        assert httpx.get(f"{endpoint.url}/health", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(f"{endpoint.url}/health", headers=wrong, timeout=10).status_code == 401
        # What a web page can send without a preflight: refused, nothing queued.
        plain = post(endpoint, "/run", b'{"input": {}}', **{"Content-Type": "text/plain"})
        assert plain.status_code == 415 and endpoint.jobs == {}
        assert post(endpoint, "/run", b'{"input": {"action": "health"}}').status_code == 200


class _Target(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_jobs_may_only_name_objects_on_the_storage_endpoint(tmp_path) -> None:
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=target.serve_forever, daemon=True)
    thread.start()
    elsewhere = f"http://127.0.0.1:{target.server_port}/health"
    try:
        job = Job(
            stages=[StageRequest(name="ingest")],
            remote=RemoteIO(
                access=PresignedAccess(
                    outbox_url="http://storage.test/o", grant_url="http://storage.test/g",
                    expires_at="2030-01-01T00:00:00Z",
                ),
                output_prefix="x/",
                inputs=[ObjectRef(relpath="plate/a.png", sha256="0" * 64, size=1, key="k/a",
                                  url=elsewhere)],
            ),
        )  # fmt: skip
        body = json.dumps({"input": {"action": "run", "job": job.model_dump(mode="json")}})
        with LocalEndpoint(storage_origins=["http://storage.test:80/bucket"]) as endpoint:
            answer = post(endpoint, "/run", body.encode()).json()
            view = finished(endpoint, answer["id"])
        assert view["status"] == "FAILED"
        assert "outside the storage endpoint" in view["error"]
        assert f"127.0.0.1:{target.server_port}" in view["error"]
        assert _Target.hits == 0  # never fetched
    finally:
        target.shutdown()
        target.server_close()


def test_a_non_loopback_bind_needs_an_explicit_flag() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "vfx_ingest", "worker", "serve", "--host", "0.0.0.0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr and len(done.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize("path", ["/status/../x", "/status/..%2F..%2Fx", "/cancel/a%2Fb"])
def test_job_ids_in_paths_are_checked(path: str) -> None:
    with LocalEndpoint() as endpoint:
        host, port = endpoint.server.server_address[:2]
        connection = http.client.HTTPConnection(host, port, timeout=10)
        # Sent as is: no client-side normalisation of the dots.
        connection.request(
            "POST" if path.startswith("/cancel") else "GET",
            path,
            headers={"Authorization": f"Bearer {endpoint.api_key}"},
        )
        answer = connection.getresponse()
        assert answer.status == 400
        assert json.loads(answer.read()) == {
            "error": "/" + path.split("/")[1] + " needs one valid job id"
        }
        connection.close()


def test_a_job_id_never_becomes_a_path(tmp_path, monkeypatch) -> None:
    scratch = tmp_path / "scratch" / "root"
    scratch.mkdir(parents=True)
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    job = Job(
        stages=[StageRequest(name="ingest")],
        remote=RemoteIO(
            access=PresignedAccess(
                outbox_url="http://s/o", grant_url="http://s/g", expires_at="2030-01-01T00:00:00Z"
            ),
            output_prefix="x/",
        ),
    ).model_dump(mode="json")
    job["job_id"] = "q/../../outs"
    with LocalEndpoint() as endpoint:
        answer = post(
            endpoint, "/run", json.dumps({"input": {"action": "run", "job": job}}).encode()
        )
        view = finished(endpoint, answer.json()["id"])
    assert view["status"] == "FAILED" and "invalid job (job_id" in view["error"]
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["root"]
    assert list(scratch.iterdir()) == []


def test_a_worker_start_removes_the_scratch_of_dead_jobs(tmp_path, monkeypatch) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setenv(SCRATCH_ENV, str(root))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    code = (
        "from vfx_ingest.worker.remote_io import scratch_folder\n"
        "with scratch_folder() as folder:\n"
        "    (folder / 'big.bin').write_bytes(b'x' * 1000)\n"
        "    print(folder, flush=True)\n"
        "    input()\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    dead = Path(worker.stdout.readline().strip())  # type: ignore[union-attr]
    assert (dead / "big.bin").is_file()
    worker.kill()  # a killed worker: its `finally` never runs
    worker.wait(10)
    assert dead.is_dir()
    with scratch_folder() as live:
        LocalEndpoint().start().stop()  # a worker start
        assert not dead.exists(), "the dead job's scratch folder is still there"
        assert live.is_dir(), "a live job's scratch folder was removed"
