"""The worker's HTTP server inside a pod: ``python -m vfx_ingest.backends.runpod.pod.server``.

It is the serverless job API of ``backends/runpod/serve.py`` (``/run``, ``/status``,
``/cancel``, ``/health``) running the real handler, behind this pod's bearer token
(``VFX_INGEST_POD_TOKEN``, made by the client for this pod only), for jobs naming objects
on ``VFX_INGEST_POD_STORAGE`` only. It also answers ``POST /keep`` (the client leaves the
pod to its idle rule) and reports its activity to the watchdog in the status file: the
time of the last authenticated request, whether a job is queued or running, and when one
last was.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

from .... import atomic

TOKEN_ENV = "VFX_INGEST_POD_TOKEN"
STORAGE_ENV = "VFX_INGEST_POD_STORAGE"


class Activity:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_request = time.time()
        self.last_busy = time.time()
        self.kept = False

    def write(self, busy: int) -> None:
        if busy:
            self.last_busy = time.time()
        state = {
            "last_request": self.last_request,
            "busy": busy,
            "last_busy": self.last_busy,
            "kept": self.kept,
        }
        atomic.write_text(self.path, json.dumps(state))


def main(argv: list[str] | None = None) -> int:
    from ....config import load_settings
    from ....worker.remote_io import OBJECT_CACHE_ENV
    from ..serve import LocalEndpoint

    parser = argparse.ArgumentParser(prog="vfx-ingest pod server")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--status", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise SystemExit(f"{TOKEN_ENV} is not set: the pod's worker needs its token")
    origins = [o for o in os.environ.get(STORAGE_ENV, "").split(",") if o]
    # One client, many stages: its inputs are kept for the pod's life (the pod's disk).
    os.environ.setdefault(OBJECT_CACHE_ENV, str(Path(tempfile.gettempdir()) / "vfx-ingest-objects"))
    settings = load_settings()
    endpoint = LocalEndpoint(
        host=args.host,
        port=args.port,
        api_key=token,
        cancel_grace_s=settings.runpod.cancel_grace_s,
        storage_origins=origins,
    )
    endpoint.on_recycle = endpoint.retire
    activity = Activity(Path(args.status))
    base = endpoint.server.RequestHandlerClass

    class Handler(base):  # type: ignore[valid-type,misc]
        def _route(self, method: str) -> None:
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if secrets.compare_digest(given, endpoint.api_key):
                activity.last_request = time.time()
                if method == "POST" and self.path.rstrip("/").endswith("/keep"):
                    activity.kept = True
                    self._send(200, {"kept": True})
                    return
            super()._route(method)

    endpoint.server.RequestHandlerClass = Handler

    def report() -> None:
        while True:
            jobs = endpoint.health()["jobs"]
            activity.write(jobs["inProgress"] + jobs["inQueue"])
            time.sleep(0.5)

    activity.write(0)
    threading.Thread(target=report, name="pod-activity", daemon=True).start()
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop(timeout=10)
    return 1 if endpoint.failure else 0


if __name__ == "__main__":
    raise SystemExit(main())
