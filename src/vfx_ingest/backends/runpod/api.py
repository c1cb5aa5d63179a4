"""Clients for RunPod's HTTP APIs, with timeouts, retries and one-line errors.

- :class:`EndpointClient`: a serverless queue endpoint, ``<api_url>/<endpoint_id>/...``:
  ``POST /run``, ``GET /status/{id}``, ``POST /cancel/{id}``, ``GET /health``
  (docs.runpod.io/serverless/endpoints/operation-reference; job states IN_QUEUE,
  IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT). Progress a handler reports with
  ``progress_update`` is the ``output`` of an IN_PROGRESS status.
- :class:`ControlPlane`: the REST API v2 (``https://api.runpod.io/v2``, setting
  ``runpod.rest_url``) for templates, serverless endpoints and the GPU catalog. Its errors
  are RFC 9457 problem details (``title``, ``status``, ``detail``, ``errors``), shown as
  one line naming the field and the reason.

Transient failures (connection errors, 429, 5xx) are retried with exponential backoff (no
sooner than a Retry-After asks); a ``POST /run`` is retried only when the request cannot
have been accepted (connection refused, 429, 503), so a flaky network never starts a job
twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from ... import redact, retry
from ...errors import BadInput, StageFailed
from ..remote import RemoteState

log = logging.getLogger(__name__)

_STATES = {
    "IN_QUEUE": "queued",
    "IN_PROGRESS": "running",
    "RUNNING": "running",
    "COMPLETED": "done",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "TIMED_OUT": "timed_out",
}


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


class _Http:
    """httpx with bearer auth, retries and errors that say what to do."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float, attempts: int):
        import httpx

        if api_key is None and not is_loopback(base_url):
            raise BadInput(
                "no RunPod API key",
                fix="Set RUNPOD_API_KEY (or runpod.api_key in the user config)",
            )
        redact.install()
        redact.register_secret(api_key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))
        self.attempts = attempts

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        idempotent: bool = True,
        missing_ok: bool = False,
    ) -> Any:
        import httpx

        url = f"{self.base_url}/{path.lstrip('/')}"

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, _Retry):
                return idempotent or exc.status in (429, 503)
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                return True
            return idempotent and isinstance(exc, httpx.TransportError)

        try:
            for attempt in retry.attempts(transient, self.attempts):
                with attempt:
                    response = self.http.request(method, url, json=body)
                    if response.status_code == 429 or response.status_code >= 500:
                        asked = retry.retry_after(response.headers.get("Retry-After"))
                        raise _Retry(response.status_code, response.text, asked)
        except _Retry as exc:
            raise StageFailed(
                f"RunPod answered HTTP {exc.status} to {method} {path}: {_short(exc.body)}",
                fix="Try again later (https://uptime.runpod.io)",
            ) from exc
        except httpx.TransportError as exc:
            raise StageFailed(
                f"cannot reach RunPod at {self.base_url} ({type(exc).__name__})",
                fix="Check the network and runpod.api_url",
            ) from exc
        if response.status_code in (401, 403):
            raise BadInput(
                f"RunPod refused the API key (HTTP {response.status_code})",
                fix="Check RUNPOD_API_KEY",
            )
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise BadInput(
                f"RunPod refused {method} {url}: HTTP {response.status_code} "
                f"{problem_line(response)}",
                fix="Check runpod.endpoint_id (`vfx-ingest deploy runpod-serverless` sets it)"
                if response.status_code == 404
                else None,
            )
        if not response.content:
            return None
        return response.json()


class _Retry(Exception):
    def __init__(self, status: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status, self.body = status, body
        self.retry_after = retry_after  # seconds the service asked for (honoured by retry)


def problem_line(response: Any) -> str:
    """An error answer in one line: a problem's title and its first field error (or its
    detail), else the start of the body."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "title" in problem and "status" in problem:
        errors = problem.get("errors") or []
        reason = errors[0] if errors else problem.get("detail", "")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return _short(f"{problem['title']}: {reason}{more}")
    return _short(response.text)


def _short(text: str, limit: int = 200) -> str:
    return redact.text(" ".join(text.split()))[:limit]


class EndpointClient:
    """One serverless endpoint's REST API (see the module docstring)."""

    def __init__(
        self,
        api_url: str,
        endpoint_id: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.http = _Http(
            f"{api_url.rstrip('/')}/{endpoint_id}", api_key, timeout=timeout, attempts=attempts
        )

    def run(self, payload: dict[str, Any], policy: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {"input": payload}
        if policy:
            body["policy"] = policy
        answer = self.http.request("POST", "run", body=body, idempotent=False)
        if not isinstance(answer, dict) or "id" not in answer:
            raise StageFailed(f"RunPod's /run answer has no job id: {_short(str(answer))}")
        return str(answer["id"])

    def status(self, job_id: str) -> dict[str, Any]:
        return self.http.request("GET", f"status/{job_id}")

    def cancel(self, job_id: str) -> None:
        self.http.request("POST", f"cancel/{job_id}", missing_ok=True)

    def health(self) -> dict[str, Any]:
        return self.http.request("GET", "health")


class RunpodTransport:
    """Carries jobs to a RunPod serverless endpoint (the ``Transport`` of ``backends/remote``)."""

    name = "runpod-serverless"

    def __init__(self, client: EndpointClient, policy: dict[str, int] | None = None) -> None:
        self.client = client
        self.policy = policy

    def submit(self, payload: dict[str, Any]) -> str:
        return self.client.run(payload, self.policy)

    def poll(self, handle: str) -> RemoteState:
        answer = self.client.status(handle)
        status = _STATES.get(str(answer.get("status")))
        if status is None:
            raise StageFailed(f"RunPod reported an unknown job status {answer.get('status')!r}")
        output = answer.get("output")
        return RemoteState(
            status=status,  # type: ignore[arg-type]
            progress=output if status == "running" and isinstance(output, dict) else None,
            output=output if status == "done" and isinstance(output, dict) else None,
            error=worker_error(answer.get("error")),
            queue_s=_seconds(answer.get("delayTime")),
            execution_s=_seconds(answer.get("executionTime")),
        )

    def cancel(self, handle: str) -> None:
        self.client.cancel(handle)


def worker_error(error: Any) -> str | None:
    """The one line a failed job's ``error`` carries: our handler's message, or the
    ``error_message`` of the JSON the RunPod SDK makes of an uncaught exception."""
    if error is None:
        return None
    text = str(error)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "error_message" in data:
        kind = str(data.get("error_type", "")).removeprefix("<class '").removesuffix("'>")
        text = (
            f"{kind.rsplit('.', 1)[-1]}: {data['error_message']}" if kind else data["error_message"]
        )
    return redact.text(text.strip().splitlines()[0] if text.strip() else text)


def _seconds(ms: Any) -> float | None:
    return round(float(ms) / 1000, 3) if isinstance(ms, int | float) else None


class ControlPlane:
    """Templates, serverless endpoints and the GPU catalog through RunPod's REST API v2."""

    def __init__(self, rest_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        if api_key is None:
            raise BadInput(
                "RunPod's REST API needs an API key",
                fix="Set RUNPOD_API_KEY (or use --context-only to only write the build context)",
            )
        self.http = _Http(rest_url, api_key, timeout=timeout, attempts=4)

    def templates(self) -> list[dict[str, Any]]:
        return (self.http.request("GET", "templates") or {}).get("templates", [])

    def create_template(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.request("POST", "templates", body=body, idempotent=False)

    def update_template(self, template_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.request("PATCH", f"templates/{template_id}", body=body)

    def endpoints(self) -> list[dict[str, Any]]:
        return (self.http.request("GET", "serverless") or {}).get("endpoints", [])

    def endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        return self.http.request("GET", f"serverless/{endpoint_id}", missing_ok=True)

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.request("POST", "serverless", body=body, idempotent=False)

    def update_endpoint(self, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.request("PATCH", f"serverless/{endpoint_id}", body=body)

    def gpus(self) -> list[dict[str, Any]]:
        return (self.http.request("GET", "catalog/gpus") or {}).get("gpus", [])
