"""Pods and network volumes through RunPod's REST API v2 (``runpod.rest_url``).

``POST /pods`` places one GPU type; per RunPod's docs a ``400`` there means the body
broke a rule or that GPU could not be placed (no capacity), so the caller moves on to its
next GPU type; ``422`` is our bug and ``402`` (no balance) stops everything. The create is
never retried after it may have been accepted: a lost answer leaves a pod that only its
name finds (``pods gc``), never a second one.
"""

from __future__ import annotations

import time
from typing import Any

from ....errors import BadInput, StageFailed
from ..api import _Http, problem_line

GONE = "TERMINATED"


class NoCapacity(StageFailed):
    """RunPod could not place this GPU type (or refused it for this account)."""


class AnswerLost(StageFailed):
    """The create request went out and its answer did not come back: a pod may exist."""


class PodControl:
    def __init__(self, rest_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        if api_key is None:
            raise BadInput("RunPod's REST API needs an API key", fix="Set RUNPOD_API_KEY")
        self.http = _Http(rest_url, api_key, timeout=timeout, attempts=4)

    def close(self) -> None:
        self.http.close()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.http.base_url}/pods"
        for attempt in range(4):
            try:
                response = self.http.http.post(url, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if attempt == 3:
                    raise StageFailed(f"cannot reach RunPod at {self.http.base_url}") from None
                time.sleep(2**attempt)
                continue
            except httpx.TransportError as exc:
                # The request may have been accepted: a pod may exist that only its name finds.
                raise AnswerLost(
                    f"RunPod's answer to the pod create was lost ({type(exc).__name__})"
                ) from exc
            if response.status_code in (429, 503) and attempt < 3:
                time.sleep(min(int(response.headers.get("Retry-After") or 2**attempt), 30))
                continue
            break
        status = response.status_code
        if status == 201:
            return response.json()
        line = problem_line(response)
        if status in (400, 403):
            raise NoCapacity(f"{body['gpu']['id']}: HTTP {status} {line}")
        if status in (401, 402):
            raise BadInput(f"RunPod refused the pod: HTTP {status} {line}", fix="Check the account")
        if status >= 500:  # it may have been placed all the same
            raise AnswerLost(f"RunPod answered HTTP {status} to the pod create: {line}")
        raise StageFailed(f"RunPod refused the pod: HTTP {status} {line}")

    def get(self, pod_id: str) -> dict[str, Any] | None:
        return self.http.request("GET", f"pods/{pod_id}", missing_ok=True)

    def pods(self) -> list[dict[str, Any]]:
        return (self.http.request("GET", "pods") or {}).get("pods", [])

    def named(self, name: str) -> list[dict[str, Any]]:
        return [p for p in self.pods() if p.get("name") == name and p.get("status") != GONE]

    def terminate(self, pod_id: str, *, wait_s: float = 60.0, poll_s: float = 1.0) -> None:
        """Delete the pod and confirm it is gone (404 or TERMINATED). A 409 (the pod is
        between states), 429 or 5xx answer, or no answer, is retried until ``wait_s``."""
        import httpx

        deadline = time.monotonic() + wait_s
        url, pause = f"{self.http.base_url}/pods/{pod_id}", poll_s
        while True:
            try:
                response = self.http.http.delete(url)
                status = response.status_code
            except httpx.TransportError:
                response, status = None, 0
            if status in (401, 403) and response is not None:
                raise BadInput(
                    f"RunPod refused to terminate pod {pod_id}: {problem_line(response)}",
                    fix="Check RUNPOD_API_KEY; remove the pod at runpod.io",
                )
            if 200 <= status < 300 or status == 404:
                break
            if time.monotonic() > deadline:
                raise StageFailed(
                    f"pod {pod_id} could not be terminated (HTTP {status or 'no answer'})",
                    fix=f"Run `vfx-ingest pods gc`, or remove pod {pod_id} at runpod.io",
                )
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
        while True:
            pod = self.get(pod_id)
            if pod is None or pod.get("status") == GONE:
                return
            if time.monotonic() > deadline:
                raise StageFailed(
                    f"pod {pod_id} is still {pod.get('status')} after its termination",
                    fix=f"Run `vfx-ingest pods gc`, or remove it at runpod.io (pod {pod_id})",
                )
            time.sleep(poll_s)

    def volumes(self) -> list[dict[str, Any]]:
        return (self.http.request("GET", "network-volumes") or {}).get("networkVolumes", [])

    def volume(self, volume_id: str) -> dict[str, Any] | None:
        return self.http.request("GET", f"network-volumes/{volume_id}", missing_ok=True)

    def create_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.request("POST", "network-volumes", body=body, idempotent=False)
