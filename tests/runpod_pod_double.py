"""A test double of RunPod's pods and network volumes (REST API v2), on 127.0.0.1.

It extends :class:`runpod_v2_double.RunpodV2Double` (every request checked against the
published schema, RFC 9457 errors, every answer checked against the response schema) with
what RunPod's docs say of pods (the notes beside the published schema, and its operation
texts), never more forgiving:

- ``POST /v2/pods`` places the one GPU type named, or answers ``400`` (no capacity: a
  ``detail`` only, no code, as RunPod does); the pod starts in ``PROVISIONING``, moves to
  ``STARTING`` and reaches ``RUNNING`` once its container runs, after ``provision_s`` and
  ``start_s``; a GPU type in ``stall`` never gets past ``STARTING`` (an image pull that
  never finishes);
- the container is the pod's ``args`` run as a real subprocess (``vfx-ingest`` is this
  Python's ``-m vfx_ingest``), with the pod's ``env``, ``RUNPOD_POD_ID`` and a pod-scoped
  ``RUNPOD_API_KEY`` that RunPod answers ``403`` for anywhere but its own pod. Pods share
  this machine's network, so the container's port is mapped onto a free loopback port
  (its ``--host``/``--port`` arguments rewritten), and :attr:`proxy_url` serves RunPod's
  proxy: ``{proxy_url}/{pod_id}-{port}/...`` reaches it, ``502`` while nothing listens;
- ``DELETE /v2/pods/{id}`` kills the container and removes the pod (``404`` after);
  the ``stop`` action kills it and leaves the pod ``EXITED``; an action not valid in the
  pod's status answers ``409``;
- a billing ledger: each pod bills its GPU's per-second rate (the catalog's price, the
  pod's ``cost``) from creation until it is terminated or stopped (a stopped pod's disk
  is not billed here);
- network volumes: ``/v2/network-volumes`` (create in a known data centre, list, get);
  the volume's S3 API is moto, whose bucket ``on_volume_created`` makes.

Failures a test asks for: ``no_capacity`` (GPU ids), ``stall`` (GPU ids),
``lose_create_answers`` (creates whose answer is dropped after the pod is made),
``delete_answers`` (statuses answered to the next DELETEs instead of acting),
``forbid_pod_delete`` (a pod-scoped key may not DELETE, only act), ``fail_lists``
(``GET /v2/pods`` answers 500).
"""

from __future__ import annotations

import http.client
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runpod_v2_double import Problem, RunpodV2Double

DATA_CENTERS = ("EU-RO-1", "US-KS-2", "EU-SE-1")
LIVE = ("PROVISIONING", "STARTING", "RUNNING")
ACTIONS = {
    "PROVISIONING": ["stop", "terminate"],
    "STARTING": ["stop", "terminate"],
    "RUNNING": ["stop", "restart", "terminate"],
    "EXITED": ["start", "terminate"],
    "ERROR": ["start", "terminate"],
}


class DropConnection(Exception):
    """Close the connection without an answer (a lost response)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Pod:
    def __init__(self, double: RunpodPodDouble, body: dict[str, Any], rate: float) -> None:
        self.id = secrets.token_hex(7)
        self.key = "pod-" + secrets.token_urlsafe(24)
        self.body = body
        self.rate = rate  # USD per hour
        self.status = "PROVISIONING"
        self.created = time.time()
        self.created_at = _now()
        self.started_at: str | None = None
        self.billing_end: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.ended = threading.Event()
        self.host_port: int | None = None
        self.folder = Path(tempfile.mkdtemp(prefix=f"pod-{self.id}-", dir=double.root))
        self.double = double

    def view(self) -> dict[str, Any]:
        body = self.body
        return {
            "id": self.id,
            "name": body["name"],
            "status": self.status,
            "actions": ACTIONS.get(self.status, []),
            "image": body.get("image", ""),
            "args": body.get("args", ""),
            "disk": body.get("disk", 20),
            "mounts": body.get("mounts", {}),
            "ports": body.get("ports", []),
            "env": body.get("env", {}),
            "registry": None,
            "gpu": dict(body["gpu"]),
            "cloud": body.get("cloud", "SECURE"),
            "dataCenterId": "EU-RO-1",
            "cudaVersion": "12.8",
            "ssh": {"proxy": None, "direct": None},
            "template": None,
            "cost": self.rate,
            "locked": False,
            "runtime": None if self.status != "RUNNING" else {"uptime": 1},
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "globalNetworking": {"enabled": False},
        }

    # the pod's life, on its own thread
    def live(self) -> None:
        d = self.double
        if self.ended.wait(d.provision_s):
            return
        self._set("STARTING")
        if self.body["gpu"]["id"] in d.stall or self.ended.wait(d.start_s):
            return
        with d.lock:
            if self.ended.is_set():
                return
            self.process = self._spawn()
            self.status, self.started_at = "RUNNING", _now()
        code = self.process.wait()
        with d.lock:
            if not self.ended.is_set() and self.status == "RUNNING":
                # The container exited on its own: the pod stays (and bills) until ended.
                self.status = "EXITED" if code == 0 else "ERROR"

    def _set(self, status: str) -> None:
        with self.double.lock:
            if not self.ended.is_set():
                self.status = status

    def _spawn(self) -> subprocess.Popen[bytes]:
        args = shlex.split(self.body.get("args", ""))
        if args[:1] == ["vfx-ingest"]:
            args = [sys.executable, "-m", "vfx_ingest", *args[1:]]
        self.host_port = _free_port()
        for flag, value in (("--host", "127.0.0.1"), ("--port", str(self.host_port))):
            if flag in args:
                args[args.index(flag) + 1] = value
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VFX_INGEST_", "RUNPOD_", "XDG_", "AWS_"))
        }
        for name in ("config", "cache", "data"):
            env[f"XDG_{name.upper()}_HOME"] = str(self.folder / name)
        env.update(self.body.get("env", {}))
        env.update(RUNPOD_POD_ID=self.id, RUNPOD_API_KEY=self.key, TMPDIR=str(self.folder / "tmp"))
        (self.folder / "tmp").mkdir()
        log = open(self.folder / "container.log", "wb")  # noqa: SIM115 (the process's)
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def end(self, status: str) -> None:
        """Stop its compute (terminate or stop): the container dies, billing stops."""
        self.ended.set()
        self.status = status
        if self.billing_end is None:
            self.billing_end = time.time()
        threading.Thread(target=self.kill, daemon=True).start()

    def billed_s(self, after: float = 0.0) -> float:
        end = self.billing_end if self.billing_end is not None else time.time()
        return max(0.0, end - max(after, self.created))


class RunpodPodDouble(RunpodV2Double):
    """The control plane with pods and network volumes (see the module docstring)."""

    def __init__(
        self,
        api_key: str,
        root: Path,
        *,
        provision_s: float = 0.2,
        start_s: float = 0.3,
        gpus: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(api_key, gpus)
        self.root = root
        self.provision_s, self.start_s = provision_s, start_s
        self.pods: dict[str, _Pod] = {}  # every pod ever made (the billing ledger)
        self.volumes: dict[str, dict[str, Any]] = {}
        self.no_capacity: set[str] = set()
        self.stall: set[str] = set()
        self.lose_create_answers = 0
        self.delete_answers: list[int] = []
        self.forbid_pod_delete = False
        self.fail_lists = 0  # GET /v2/pods answers 500 this many times
        # Called with a new volume's id: its S3 API's bucket (moto) appears with it.
        self.on_volume_created: Callable[[str], None] | None = None
        self.pod_requests: list[tuple[str, str, str]] = []  # (pod id, method, path)
        handler = self.server.RequestHandlerClass

        class Dropping(handler):  # type: ignore[valid-type,misc]
            def _dropping(self) -> None:
                try:
                    handler._serve(self)
                except DropConnection:
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dropping

        self.server.RequestHandlerClass = Dropping
        self.proxy = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_class(self))
        self.proxy.daemon_threads = True
        self.proxy_thread = threading.Thread(target=self.proxy.serve_forever, daemon=True)

    @property
    def proxy_url(self) -> str:
        host, port = self.proxy.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pod_url(self) -> str:
        """What ``runpod.pod_url`` is set to for this double."""
        return self.proxy_url + "/{pod_id}-{port}"

    def __enter__(self) -> RunpodPodDouble:
        super().__enter__()
        self.proxy_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for pod in list(self.pods.values()):
            if pod.billing_end is None:
                pod.end("TERMINATED")
            pod.kill()
        self.proxy.shutdown()
        self.proxy.server_close()
        super().__exit__(*exc)

    # ------------------------------------------------------------ for the tests

    def live_pods(self) -> list[_Pod]:
        with self.lock:
            return [p for p in self.pods.values() if p.status in LIVE]

    def billed_after(self, when: float) -> float:
        """Seconds of compute billed after ``when`` (Unix time), all pods together."""
        with self.lock:
            return sum(p.billed_s(when) for p in self.pods.values())

    def pod(self, name_or_id: str) -> _Pod:
        return next(p for p in self.pods.values() if name_or_id in (p.id, p.body["name"]))

    # ------------------------------------------------------------------ answers

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        owner = next((p for p in list(self.pods.values()) if p.key == token), None)
        if owner is None:
            return super().answer(method, path, headers, raw)
        # A pod-scoped key: its own pod only, as RunPod scopes it.
        route = path.split("?")[0].rstrip("/")
        self.pod_requests.append((owner.id, method, route))
        mine = route in (f"/v2/pods/{owner.id}", f"/v2/pods/{owner.id}/action")
        if not mine or (self.forbid_pod_delete and method == "DELETE"):
            return 403, Problem(403, "this key is scoped to another pod").body()
        return super().answer(
            method, path, {**headers, "authorization": f"Bearer {self.api_key}"}, raw
        )

    def _serve(self, method: str, template: str, ids: list[str], body: Any) -> tuple[int, Any]:
        key = (method, template)
        if key == ("GET", "/v2/pods"):
            if self.fail_lists:
                self.fail_lists -= 1
                raise Problem(500, "listing pods failed")
            live = [p.view() for p in self.pods.values() if p.status != "TERMINATED"]
            return 200, {"pods": live}
        if key == ("POST", "/v2/pods"):
            return self._create(body)
        if template in ("/v2/pods/{id}", "/v2/pods/{id}/action"):
            pod = self.pods.get(ids[0])
            if pod is None or pod.status == "TERMINATED":
                raise Problem(404, "pod not found")
            if method == "GET":
                return 200, pod.view()
            if method == "DELETE":
                if self.delete_answers:
                    raise Problem(self.delete_answers.pop(0), "could not terminate the pod")
                pod.end("TERMINATED")
                return 204, None
            if method == "POST":
                return self._act(pod, body["action"])
            raise Problem(400, "updating pods is not served by this double")
        if key == ("GET", "/v2/network-volumes"):
            return 200, {"networkVolumes": list(self.volumes.values())}
        if key == ("POST", "/v2/network-volumes"):
            if body["dataCenter"] not in DATA_CENTERS:
                raise Problem(400, f"unknown data center {body['dataCenter']}")
            volume = {"id": secrets.token_hex(5), "type": "STANDARD", **body}
            self.volumes[volume["id"]] = volume
            if self.on_volume_created is not None:
                self.on_volume_created(volume["id"])
            return 201, volume
        if template == "/v2/network-volumes/{id}" and method == "GET":
            if ids[0] not in self.volumes:
                raise Problem(404, "network volume not found")
            return 200, self.volumes[ids[0]]
        return super()._serve(method, template, ids, body)

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if ("gpu" in body) == ("cpu" in body):
            raise Problem(400, "specify exactly one of gpu or cpu")
        gpu = next((g for g in self.gpus if g["id"] == body["gpu"]["id"]), None)
        if gpu is None:
            raise Problem(400, f"unknown GPU type {body['gpu']['id']}")
        cloud = body.get("cloud", "SECURE").lower()
        if gpu["id"] in self.no_capacity or not gpu.get(cloud):
            raise Problem(
                400,
                "There are no longer any instances available with the requested specifications.",
            )
        for mount in body.get("mounts", {}).get("network", []):
            if mount["volumeId"] not in self.volumes:
                raise Problem(400, f"network volume {mount['volumeId']} does not exist")
        pod = _Pod(self, body, gpu["price"][cloud] * body["gpu"].get("count", 1))
        self.pods[pod.id] = pod
        threading.Thread(target=pod.live, name=f"pod-{pod.id}", daemon=True).start()
        if self.lose_create_answers:
            self.lose_create_answers -= 1
            raise DropConnection()
        return 201, pod.view()

    def _act(self, pod: _Pod, action: str) -> tuple[int, Any]:
        if action not in ACTIONS.get(pod.status, []):
            raise Problem(409, f"{action} is not valid for a {pod.status} pod")
        if action == "terminate":
            pod.end("TERMINATED")
            return 204, None
        if action == "stop":
            pod.end("EXITED")
            return 200, pod.view()
        raise Problem(400, f"{action} is not served by this double")


def _proxy_class(double: RunpodPodDouble) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        """RunPod's HTTP proxy: ``/{pod_id}-{port}/rest`` -> the pod's port."""

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self) -> None:
            first, _, rest = self.path.lstrip("/").partition("/")
            pod_id, _, port = first.rpartition("-")
            pod = double.pods.get(pod_id)
            ports = [str(p).split("/")[0] for p in (pod.body.get("ports", []) if pod else [])]
            if pod is None or pod.status != "RUNNING" or port not in ports:
                self._bad_gateway()
                return
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection("127.0.0.1", pod.host_port, timeout=100)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            try:
                upstream.request(self.command, "/" + rest, body=data, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
            except OSError:
                self._bad_gateway()
                return
            finally:
                upstream.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _bad_gateway(self) -> None:
            data = b"502 Bad Gateway"
            self.send_response(502)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _forward

    return Proxy
