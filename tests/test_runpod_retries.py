"""The RunPod job API client under a flaky network and a busy service: our endpoint on
127.0.0.1 (RunPod's serverless job API, ``worker serve``'s server) behind a proxy that
injects 429/503 with Retry-After, 5xx, and answers lost after the request was acted on
(tests/fault_proxy.py). Reads are retried; a ``/run`` is retried only when it cannot have
started a job, so no job is ever started twice."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fault_proxy import FaultProxy
from vfx_ingest.backends.runpod.api import EndpointClient
from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.errors import StageFailed


@pytest.fixture
def proxied() -> Iterator[tuple[LocalEndpoint, FaultProxy, EndpointClient]]:
    endpoint = LocalEndpoint(handle=lambda job, report, cancel: {"ok": True})
    with endpoint, FaultProxy(endpoint.url) as proxy:
        # The endpoint serves one endpoint id's routes at its root; the client adds the id.
        client = EndpointClient(proxy.url, "", endpoint.api_key, timeout=10, attempts=4)
        yield endpoint, proxy, client
        client.http.close()


def finished(client: EndpointClient, job_id: str) -> dict:
    for _ in range(200):
        answer = client.status(job_id)
        if answer["status"] == "COMPLETED":
            return answer
        time.sleep(0.05)
    raise AssertionError(answer)


def test_a_run_refused_with_429_or_503_is_sent_again_no_sooner_than_asked(proxied):
    endpoint, proxy, client = proxied
    proxy.faults["POST /run"] = ["429", "503"]
    job_id = client.run({"hello": 1})
    assert proxy.count("POST /run") == 3 and len(endpoint.jobs) == 1
    at = [s["at"] for s in proxy.seen if s["route"] == "POST /run"]
    assert at[1] - at[0] >= 1.0 and at[2] - at[1] >= 1.0  # Retry-After: 1 (lower bounds)
    assert finished(client, job_id)["output"] == {"ok": True}


@pytest.mark.parametrize("fault", ["forward-500", "forward-drop"])
def test_a_run_whose_answer_is_lost_is_never_sent_again(proxied, fault):
    """The endpoint took the job; the client cannot know it. It reports, never resends."""
    endpoint, proxy, client = proxied
    proxy.faults["POST /run"] = [fault]
    with pytest.raises(StageFailed):
        client.run({"hello": 1})
    assert proxy.count("POST /run") == 1 and len(endpoint.jobs) == 1


def test_status_reads_are_retried_through_5xx_and_lost_answers(proxied):
    endpoint, proxy, client = proxied
    job_id = client.run({"hello": 1})
    proxy.faults["GET /status"] = ["500", "forward-drop", "503"]
    assert finished(client, job_id)["status"] == "COMPLETED"
    assert [s["fault"] for s in proxy.seen if s["route"] == "GET /status"][:4] == [
        "500", "forward-drop", "503", None,
    ]  # fmt: skip
    assert len(endpoint.jobs) == 1


def test_a_service_that_stays_down_fails_after_the_attempts(proxied):
    _, proxy, client = proxied
    proxy.faults["GET /health"] = ["500"] * 4
    with pytest.raises(StageFailed, match="RunPod answered HTTP 500 to GET health"):
        client.health()
    assert proxy.count("GET /health") == 4
