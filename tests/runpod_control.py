"""A test double of RunPod's REST API v1 for templates and endpoints, on 127.0.0.1.

RunPod's control plane cannot be reached from here. This follows its published OpenAPI
schema (https://rest.runpod.io/v1, docs.runpod.io/api-reference: ``GET/POST /templates``,
``PATCH /templates/{id}``, ``GET/PATCH /endpoints/{id}``, ``POST /endpoints``; bearer
auth; ``TemplateCreateInput`` needs ``name`` and ``imageName``, ``EndpointCreateInput``
needs ``templateId``, GPU types come from the ``GPUTypeId`` enum) and records every
request for the tests to inspect.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GPU_TYPES = {
    "NVIDIA GeForce RTX 4090",
    "NVIDIA RTX A5000",
    "NVIDIA L40S",
    "NVIDIA A40",
    "NVIDIA H100 80GB HBM3",
}


class RunpodControlPlane:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.templates: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> RunpodControlPlane:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        if parts == ["templates"] and method == "GET":
            return 200, list(self.templates.values())
        if parts == ["templates"] and method == "POST":
            if not body.get("name") or not body.get("imageName"):
                return 400, {"error": "name and imageName are required"}
            if any(t["name"] == body["name"] for t in self.templates.values()):
                return 400, {"error": "template name must be unique"}
            template = {"id": uuid.uuid4().hex[:10], "isServerless": False, "env": {}, **body}
            self.templates[template["id"]] = template
            return 200, template
        if len(parts) == 2 and parts[0] == "templates" and method == "PATCH":
            if parts[1] not in self.templates:
                return 404, {"error": "not found"}
            self.templates[parts[1]].update(body)
            return 200, self.templates[parts[1]]
        if parts == ["endpoints"] and method == "POST":
            return self._save_endpoint(None, body)
        if len(parts) == 2 and parts[0] == "endpoints":
            if parts[1] not in self.endpoints:
                return 404, {"error": "not found"}
            if method == "GET":
                return 200, self.endpoints[parts[1]]
            if method == "PATCH":
                return self._save_endpoint(parts[1], body)
        return 404, {"error": f"no route {method} {path}"}

    def _save_endpoint(self, endpoint_id: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        template = body.get("templateId")
        if endpoint_id is None and template is None:
            return 400, {"error": "templateId is required"}
        if template is not None and template not in self.templates:
            return 400, {"error": "unknown template"}
        unknown = set(body.get("gpuTypeIds", [])) - GPU_TYPES
        if unknown:
            return 400, {"error": f"unknown GPU types {sorted(unknown)}"}
        if endpoint_id is None:
            endpoint_id = uuid.uuid4().hex[:14]
            self.endpoints[endpoint_id] = {"id": endpoint_id, "workersMin": 0}
        self.endpoints[endpoint_id].update(body)
        return 200, self.endpoints[endpoint_id]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                plane.requests.append((method, self.path, body))
                if self.headers.get("Authorization") != f"Bearer {plane.api_key}":
                    code, answer = 401, {"error": "Unauthorized"}
                else:
                    code, answer = plane.answer(method, self.path, body or {})
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        return Handler
