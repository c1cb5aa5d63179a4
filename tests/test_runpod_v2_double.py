"""The RunPod REST v2 double (``runpod_v2_double``) and the trimmed schema it checks with.

The double stands in for RunPod's control plane (it cannot be reached from here); these
tests show it answers as the published v2 schema and docs say: bearer auth, problem
details, unknown fields rejected by name, state kept, every answer on-schema.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import httpx
import pytest

from conftest import REPO
from runpod_v2_double import SPEC_PATH, RunpodV2Double, Schema

KEY = "rp-test-key"
SHARED_SPEC = Path(
    os.environ.get(
        "RUNPOD_OPENAPI_SPEC", REPO.parent / "shared" / "specs" / "runpod-rest-v2.openapi.json"
    )
)


def test_the_trimmed_schema_is_what_the_script_makes_of_the_published_one() -> None:
    if not SHARED_SPEC.is_file():
        pytest.skip(f"the published schema is not beside the repository ({SHARED_SPEC})")
    spec = importlib.util.spec_from_file_location("trim_openapi", REPO / "scripts/trim_openapi.py")
    assert spec is not None and spec.loader is not None
    trim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trim)
    assert SPEC_PATH.read_text(encoding="utf-8") == trim.render(SHARED_SPEC), (
        "run `python scripts/trim_openapi.py` and commit tests/specs/runpod-rest-v2.json"
    )


def test_the_trimmed_schema_keeps_the_paths_we_call_and_no_prose() -> None:
    spec = Schema().spec
    for path in ("/v2/templates", "/v2/serverless/{id}", "/v2/catalog/gpus", "/v2/pods"):
        assert path in spec["paths"]
    assert "/v2/billing" not in spec["paths"]
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert '"description"' not in text and '"examples"' not in text


@pytest.fixture
def double():
    with RunpodV2Double(KEY) as plane:
        yield plane


def client(double: RunpodV2Double, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=double.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_requests_without_the_key_are_problems(double) -> None:
    answer = httpx.get(f"{double.url}/templates", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "title": "Unauthorized",
        "status": 401,
        "detail": "missing bearer token",
    }
    with client(double, "wrong") as http:
        assert http.get("/templates").status_code == 401


def test_unknown_fields_are_refused_by_name(double) -> None:
    with client(double) as http:
        answer = http.post("/templates", json={"name": "t", "image": "i", "imageName": "i"})
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["errors"] == ["$: additional properties 'imageName' not allowed"]
        nested = http.post(
            "/serverless",
            json={
                "name": "e",
                "type": "QUEUE",
                "image": "i",
                "gpu": {"pools": ["ADA_24"]},
                "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
                "workers": {"max": 2, "bogus": 1},
            },
        )
        assert nested.status_code == 422
        assert "$.workers: additional properties 'bogus' not allowed" in nested.json()["errors"]
    assert double.templates == {} and double.endpoints == {}


def test_missing_and_mistyped_fields_name_the_field(double) -> None:
    with client(double) as http:
        answer = http.post("/templates", json={"name": "t"})
        assert answer.status_code == 422
        assert any("'image' is a required property" in e for e in answer.json()["errors"])
        typed = http.post("/templates", json={"name": "t", "image": "i", "disk": "big"})
        assert any(e.startswith("$.disk:") for e in typed.json()["errors"])
        plain = http.post("/templates", content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415


def test_templates_and_endpoints_keep_state_and_answer_on_schema(double) -> None:
    with client(double) as http:
        created = http.post("/templates", json={"name": "w", "image": "img:1", "serverless": True})
        assert created.status_code == 201
        template = created.json()
        assert http.get("/templates").json()["templates"] == [template]
        patched = http.patch(f"/templates/{template['id']}", json={"image": "img:2"})
        assert patched.json()["image"] == "img:2" and patched.json()["name"] == "w"
        body = {
            "name": "ep",
            "type": "QUEUE",
            "templateId": template["id"],
            "gpu": {"pools": ["ADA_24"], "count": 1},
            "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        }
        endpoint = http.post("/serverless", json=body)
        assert endpoint.status_code == 201, endpoint.text
        ep = endpoint.json()
        assert ep["image"] == "img:2" and ep["requestUrls"]["run"].endswith(f"{ep['id']}/run")
        both = http.post("/serverless", json={**body, "cpu": [{"flavor": "cpu3c", "vcpu": 2}]})
        assert both.status_code in (400, 422)
        unknown = http.post("/serverless", json={**body, "gpu": {"pools": ["NO_SUCH"]}})
        assert unknown.status_code == 400 and "NO_SUCH" in unknown.json()["detail"]
        upd = http.patch(f"/serverless/{ep['id']}", json={"workers": {"max": 5}})
        assert upd.json()["workers"]["max"] == 5
        assert http.get("/serverless/nope").status_code == 404
        assert http.delete(f"/templates/{template['id']}").status_code == 400  # in use
        assert http.delete(f"/serverless/{ep['id']}").status_code == 204
        assert http.delete(f"/templates/{template['id']}").status_code == 204
        gpus = http.get("/catalog/gpus").json()["gpus"]
        assert {g["pool"] for g in gpus} >= {"ADA_24", "AMPERE_24"}
    assert [r[:2] for r in double.requests][:2] == [
        ("POST", "/v2/templates"),
        ("GET", "/v2/templates"),
    ]


def test_the_double_checks_its_own_answers() -> None:
    schema = Schema()
    assert schema.response_errors("/v2/templates", "get", 200, {"templates": []}) == []
    assert schema.response_errors("/v2/templates", "get", 200, {"items": []})
    problem = {"title": "Not Found", "status": 404, "detail": "x"}
    assert schema.response_errors("/v2/serverless/{id}", "get", 404, problem) == []
    assert schema.response_errors("/v2/serverless/{id}", "get", 404, {"error": "x"})
