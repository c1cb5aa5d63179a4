"""A test double of RunPod's REST API v2 control plane, served on 127.0.0.1.

RunPod's control plane cannot be reached from here, so this double stands in for
``https://api.runpod.io/v2``. It follows the published OpenAPI schema (the trimmed copy in
``tests/specs/runpod-rest-v2.json``, made by ``scripts/trim_openapi.py`` from RunPod's docs
repository) and the rules its docs state beside it, and is never more forgiving:

- every request needs ``Authorization: Bearer <key>`` (401 otherwise);
- every request body is validated against the operation's ``requestBody`` schema
  (JSON Schema 2020-12, so ``unevaluatedProperties: false`` rejects unknown fields by
  name), a body that is not JSON with ``Content-Type: application/json`` is refused;
- errors are RFC 9457 problem details (``application/problem+json``: ``title``,
  ``status``, ``detail`` and, for validation, ``errors`` as ``"$.path: reason"``);
- creating an endpoint needs exactly one of ``gpu`` and ``cpu``, an existing template when
  ``templateId`` is given, and GPU pools the catalog knows;
- every answer it gives is itself checked against the operation's response schema, so the
  double cannot drift from what RunPod returns.

It keeps state (templates, serverless endpoints, the GPU catalog) and records each request
as ``(method, path, body)`` for the tests to inspect. Pods and network volumes are in the
trimmed schema for the next backend but are not served here yet (404).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SPEC_PATH = Path(__file__).resolve().parent / "specs" / "runpod-rest-v2.json"
SPEC_URI = "urn:runpod-rest-v2"

# What /v2/catalog/gpus answers unless a test gives its own (prices are illustrative).
DEFAULT_GPUS: list[dict[str, Any]] = [
    {
        "id": "NVIDIA GeForce RTX 4090",
        "name": "RTX 4090",
        "pool": "ADA_24",
        "manufacturer": "NVIDIA",
        "memory": 24,
        "secure": True,
        "community": True,
        "price": {"secure": 0.69, "community": 0.34, "serverless": 1.1},
        "maxCount": {"secure": 8, "community": 8},
    },
    {
        "id": "NVIDIA L4",
        "name": "L4",
        "pool": "ADA_24",
        "manufacturer": "NVIDIA",
        "memory": 24,
        "secure": True,
        "community": False,
        "price": {"secure": 0.43, "community": 0.0, "serverless": 0.69},
        "maxCount": {"secure": 8, "community": 0},
    },
    {
        "id": "NVIDIA RTX A5000",
        "name": "RTX A5000",
        "pool": "AMPERE_24",
        "manufacturer": "NVIDIA",
        "memory": 24,
        "secure": True,
        "community": True,
        "price": {"secure": 0.27, "community": 0.16, "serverless": 0.69},
        "maxCount": {"secure": 8, "community": 8},
    },
    {
        "id": "NVIDIA H100 80GB HBM3",
        "name": "H100 SXM",
        "pool": "HOPPER_80",
        "manufacturer": "NVIDIA",
        "memory": 80,
        "secure": True,
        "community": False,
        "price": {"secure": 2.69, "community": 0.0, "serverless": 4.18},
        "maxCount": {"secure": 8, "community": 0},
    },
]

_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


class Problem(Exception):
    """An RFC 9457 problem the double answers with."""

    def __init__(self, status: int, detail: str, errors: list[str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": _STATUS_TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


class Schema:
    """The trimmed published schema: request and response validation per operation."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec = spec or load_spec()
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", path) + "$"), path)
            for path in self.spec["paths"]
        ]

    def match(self, path: str) -> tuple[str, list[str]] | None:
        for pattern, template in self.routes:
            if found := pattern.match(path):
                return template, list(found.groups())
        return None

    def operation(self, template: str, method: str) -> dict[str, Any] | None:
        return self.spec["paths"][template].get(method.lower())

    def _errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(schema, registry=self.registry)
        return sorted(_reason(error) for error in validator.iter_errors(instance))

    def request_errors(self, template: str, method: str, body: Any) -> list[str]:
        """The validation failures of ``body`` for an operation, as ``$.path: reason``."""
        operation = self.operation(template, method) or {}
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            return [] if body is None else ["$: this operation takes no request body"]
        if body is None:
            return ["$: a request body is required"]
        return self._errors(_rebase(content["schema"]), body)

    def response_errors(self, template: str, method: str, status: int, body: Any) -> list[str]:
        responses = (self.operation(template, method) or {}).get("responses", {})
        answer = responses.get(str(status))
        if answer is None:
            return [f"status {status} is not documented for {method} {template}"]
        if "$ref" in answer:
            answer = self.spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        content = answer.get("content", {})
        if not content:
            return [] if body is None else ["$: this answer has no body"]
        media = next(iter(content.values()))
        return self._errors(_rebase(media["schema"]), body)

    def validate_response(self, template: str, method: str, status: int, body: Any) -> None:
        if errors := self.response_errors(template, method, status, body):
            raise AssertionError(f"the double answered off-schema: {errors}")


def _rebase(node: Any) -> Any:
    """``schema`` with its ``#/components/...`` references pointing into the spec."""
    if isinstance(node, dict):
        return {
            k: (SPEC_URI + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def _reason(error: Any) -> str:
    """One validation failure in the form RunPod's ``errors`` use."""
    where = error.json_path
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        extra = re.findall(r"'([^']+)'", error.message)
        names = ", ".join(f"'{name}'" for name in extra if name in (error.instance or {}))
        return f"{where}: additional properties {names} not allowed"
    return f"{where}: {error.message}"


class RunpodV2Double:
    """The control plane (see the module docstring). Use as a context manager."""

    def __init__(self, api_key: str, gpus: list[dict[str, Any]] | None = None) -> None:
        self.api_key = api_key
        self.schema = Schema()
        self.gpus = [dict(g) for g in (gpus if gpus is not None else DEFAULT_GPUS)]
        self.templates: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, as ``runpod.rest_url`` (``https://api.runpod.io/v2``) is."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v2"

    def __enter__(self) -> RunpodV2Double:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    # ------------------------------------------------------------------ answers

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        """Status and body for one request (a ``Problem`` body for errors)."""
        route = urlsplit(path).path.rstrip("/")
        try:
            body = _body(headers, raw)
            with self.lock:
                self.requests.append((method, route, body))
            token = headers.get("authorization", "")
            if not token.startswith("Bearer "):
                raise Problem(401, "missing bearer token")
            if token.removeprefix("Bearer ") != self.api_key:
                raise Problem(401, "invalid API key")
            found = self.schema.match(route)
            if found is None:
                raise Problem(404, f"no route {route}")
            template, ids = found
            if self.schema.operation(template, method) is None:
                raise Problem(405, "The requested method is not allowed for this path.")
            if errors := self.schema.request_errors(template, method, body):
                raise Problem(422, "Request validation failed.", errors)
            with self.lock:
                status, answer = self._serve(method, template, ids, body)
            self.schema.validate_response(template, method, status, answer)
            return status, answer
        except Problem as problem:
            return problem.status, problem.body()

    def _serve(self, method: str, template: str, ids: list[str], body: Any) -> tuple[int, Any]:
        key = (method, template)
        if key == ("GET", "/v2/templates"):
            return 200, {"templates": list(self.templates.values())}
        if key == ("POST", "/v2/templates"):
            return 201, self._save_template(None, body)
        if key == ("GET", "/v2/serverless"):
            return 200, {"endpoints": list(self.endpoints.values())}
        if key == ("POST", "/v2/serverless"):
            return 201, self._save_endpoint(None, body)
        if key == ("GET", "/v2/catalog/gpus"):
            return 200, {"gpus": self.gpus}
        if template == "/v2/templates/{id}":
            found = self._find(self.templates, ids[0], "template")
            if method == "GET":
                return 200, found
            if method == "PATCH":
                return 200, self._save_template(found, body)
            if any(e.get("templateId") == found["id"] for e in self.endpoints.values()):
                raise Problem(400, "template is in use by an endpoint")
            del self.templates[found["id"]]
            return 204, None
        if template == "/v2/serverless/{id}":
            found = self._find(self.endpoints, ids[0], "endpoint")
            if method == "GET":
                return 200, found
            if method == "PATCH":
                return 200, self._save_endpoint(found, body)
            del self.endpoints[found["id"]]
            return 204, None
        raise Problem(404, f"{template} is not served by this double")

    @staticmethod
    def _find(items: dict[str, dict[str, Any]], item_id: str, what: str) -> dict[str, Any]:
        if item_id not in items:
            raise Problem(404, f"{what} not found")
        return items[item_id]

    def _save_template(self, current: dict[str, Any] | None, body: dict[str, Any]) -> Any:
        template = current or {
            "id": uuid.uuid4().hex[:8],
            "args": "",
            "disk": 20,
            "mounts": {},
            "ports": [],
            "env": {},
            "registry": None,
            "serverless": False,
            "public": False,
            "category": "NVIDIA",
            "startSsh": True,
            "startJupyter": True,
            "allowedCudaVersions": [],
        }
        template.update(body)
        self.templates[template["id"]] = template
        return template

    def _save_endpoint(self, current: dict[str, Any] | None, body: dict[str, Any]) -> Any:
        if current is None and ("gpu" in body) == ("cpu" in body):
            raise Problem(400, "specify exactly one of gpu or cpu")
        if current is not None and "cpu" in body and "gpu" in body:
            raise Problem(400, "specify at most one of gpu or cpu")
        source: dict[str, Any] = {}
        if "templateId" in body:
            source = self._find(self.templates, body["templateId"], "template")
            if not source["serverless"]:
                raise Problem(400, "templateId must name a serverless template")
        pools = {g["pool"] for g in self.gpus if g.get("pool")}
        unknown = sorted(set(body.get("gpu", {}).get("pools", [])) - pools)
        if unknown:
            raise Problem(400, f"unknown GPU pools: {', '.join(unknown)}")
        endpoint = current or {
            "id": uuid.uuid4().hex[:14],
            "type": body.get("type", "QUEUE"),
            "image": source.get("image", ""),
            "args": "",
            "disk": source.get("disk", 20),
            "ports": [],
            "env": dict(source.get("env", {})),
            "registry": None,
            "gpu": None,
            "workers": {"min": 0, "max": 3, "idleTimeout": 10},
            "dataCenterIds": [],
            "networkVolumes": [],
            "timeout": 300000,
            "flashboot": "OFF",
            "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        update = dict(body)
        if "gpu" in update:
            gpu = {"count": 1, "allowedCudaVersions": [], "minCudaVersion": None}
            endpoint["gpu"] = {**gpu, **(endpoint["gpu"] or {}), **update.pop("gpu")}
        if "workers" in update:
            endpoint["workers"] = {**endpoint["workers"], **update.pop("workers")}
        endpoint.update(update)
        base = f"https://api.runpod.ai/v2/{endpoint['id']}"
        endpoint["requestUrls"] = {
            "run": f"{base}/run",
            "runSync": f"{base}/runsync",
            "status": f"{base}/status/{{job_id}}",
            "stream": f"{base}/stream/{{job_id}}",
            "cancel": f"{base}/cancel/{{job_id}}",
            "retry": f"{base}/retry/{{job_id}}",
            "purgeQueue": f"{base}/purge-queue",
            "health": f"{base}/health",
        }
        self.endpoints[endpoint["id"]] = endpoint
        return endpoint


def _body(headers: dict[str, str], raw: bytes) -> Any:
    if not raw:
        return None
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Problem(415, "request bodies must be application/json")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Problem(400, f"the request body is not JSON: {exc}") from exc


def _handler_class(double: RunpodV2Double) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = double.answer(self.command, self.path, headers, raw)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                kind = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
