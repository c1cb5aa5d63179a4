"""A proxy on 127.0.0.1 that injects the failures of a real network and service in front
of a server under test: per request, in order, a fault from a list, else the request is
passed on. Faults: ``429`` or ``503`` (with ``Retry-After``) or ``500`` answered without
passing the request on; ``forward-500`` (passed on, the answer replaced by a 500) and
``forward-drop`` (passed on, the connection closed before any answer): the two cases where
the client cannot know whether its request was acted on. Stopped by its ``with`` block.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class FaultProxy:
    def __init__(self, upstream: str, retry_after: str = "1") -> None:
        self.upstream = upstream.rstrip("/")
        self.retry_after = retry_after
        self.faults: dict[str, list[str]] = {}  # "POST /run" -> faults for the next ones
        self.seen: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.client = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def count(self, route: str) -> int:
        return sum(1 for s in self.seen if s["route"] == route)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        # Routes are named by their last path part that is not a job id: "POST /run".
        parts = request.path.split("?")[0].strip("/").split("/")
        name = next(p for p in reversed(parts) if not p.startswith("local-"))
        route = f"{request.command} /{name}"
        queue = self.faults.get(route, [])
        fault = queue.pop(0) if queue else None
        self.seen.append({"route": route, "fault": fault, "at": time.monotonic()})
        if fault in ("429", "503", "500"):
            request.send_response(int(fault))
            if fault != "500":
                request.send_header("Retry-After", self.retry_after)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        answer = self.client.request(
            request.command, self.upstream + request.path, content=body, headers=headers
        )
        if fault == "forward-drop":
            request.close_connection = True
            return  # closed with no answer at all
        request.send_response(500 if fault == "forward-500" else answer.status_code)
        data = b"" if fault == "forward-500" else answer.content
        request.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.client.close()
        self.thread.join(5)
