"""`vfx-ingest deploy runpod-serverless`: build context, docker, template and endpoint.

Templates and endpoints go to a test double of RunPod's REST API v2 on 127.0.0.1 that
checks every request against the published schema (tests/runpod_v2_double.py); RunPod
itself cannot be reached.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from vfx_ingest import __version__
from vfx_ingest.backends.runpod.serve import LocalEndpoint
from vfx_ingest.config import user_config_path

from model_servers import registry_toml, sha256
from runpod_v2_double import RunpodV2Double

KEY = "rpa_deploy-key-0123456789"
IMAGE = "registry.example/me/vfx-ingest-worker:1"


@pytest.fixture
def control(monkeypatch):
    """The REST API double, and our endpoint standing in for the new endpoint's queue API
    (deploy checks that it answers /health)."""
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker here: commands are printed
    with RunpodV2Double(KEY) as plane, LocalEndpoint(api_key=KEY) as queue:
        monkeypatch.setenv("VFX_INGEST_RUNPOD__REST_URL", plane.url)
        monkeypatch.setenv("VFX_INGEST_RUNPOD__API_URL", queue.url)
        yield plane


def deploy(cli, tmp_path: Path, *args: str):
    return cli(
        "deploy", "runpod-serverless", "--image", IMAGE, "--context", tmp_path / "ctx", *args
    )


def test_deploy_creates_then_updates_and_saves_the_endpoint_id(control, cli, tmp_path):
    config = user_config_path()
    config.parent.mkdir(parents=True)
    config.write_text('# my settings\n[s3]\nbucket = "keep-me"  # the show bucket\n')

    first = deploy(cli, tmp_path, "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["docker_ran"] is False and report["models"] == "bake"
    assert report["docker"][0].startswith("docker build --platform linux/amd64 -t " + IMAGE)
    (template,) = control.templates.values()
    assert template["image"] == IMAGE and template["serverless"] is True
    assert template["name"] == "vfx-ingest-worker"
    (endpoint,) = control.endpoints.values()
    assert endpoint["templateId"] == template["id"] == report["template_id"]
    # The wanted GPU types as v2 pools, less the other types in those pools.
    assert endpoint["gpu"]["pools"] == ["ADA_24", "AMPERE_24"]
    assert endpoint["gpu"]["excludedTypes"] == ["NVIDIA L4"]
    assert endpoint["workers"]["min"] == 0 and endpoint["timeout"] == 3_600_000
    assert endpoint["type"] == "QUEUE"
    assert report["health"]["workers"] == {"idle": 1, "running": 0}
    saved = config.read_text()
    assert "# my settings" in saved and "# the show bucket" in saved
    data = tomllib.loads(saved)
    assert data["s3"]["bucket"] == "keep-me"
    assert data["runpod"]["endpoint_id"] == endpoint["id"] == report["endpoint_id"]

    second = deploy(cli, tmp_path, "--gpu", "NVIDIA L4")
    assert second.exit_code == 0, second.stderr
    assert second.stdout.splitlines()[-1] == endpoint["id"]  # stdout: the endpoint id
    assert "updated" in second.stderr and "it answers: 0 workers running" in second.stderr
    assert len(control.templates) == 1 and len(control.endpoints) == 1
    assert control.endpoints[endpoint["id"]]["gpu"]["pools"] == ["ADA_24"]
    assert control.endpoints[endpoint["id"]]["gpu"]["excludedTypes"] == ["NVIDIA GeForce RTX 4090"]
    methods = [(m, p.split("/")[2]) for m, p, _ in control.requests]
    assert ("PATCH", "templates") in methods and ("PATCH", "serverless") in methods

    # Without the saved id the endpoint is found by name: still no duplicate.
    config.write_text('[s3]\nbucket = "keep-me"\n')
    third = deploy(cli, tmp_path)
    assert third.exit_code == 0 and "updated" in third.stderr
    assert len(control.templates) == 1 and len(control.endpoints) == 1
    assert all(p.startswith("/v2/") for _, p, _ in control.requests)  # nothing to v1
    for method, path, body in control.requests:  # every request valid as published
        found = control.schema.match(path)
        assert found is not None
        assert control.schema.request_errors(found[0], method, body) == [], (method, path)

    bad = deploy(cli, tmp_path, "--gpu", "NVIDIA Imaginary 9000")
    assert bad.exit_code == 2 and "no serverless pool for NVIDIA Imaginary 9000" in bad.stderr


def test_a_refusal_is_one_line_naming_the_field(control, cli, tmp_path, monkeypatch):
    """RunPod v2 answers problem details; the user sees the field and the reason."""
    monkeypatch.setenv("VFX_INGEST_RUNPOD__IDLE_TIMEOUT_S", "5000")  # v2 allows up to 3600
    result = deploy(cli, tmp_path)
    assert result.exit_code == 2
    (line,) = [x for x in result.stderr.splitlines() if "RunPod refused" in x]
    assert "Unprocessable Entity: $.workers.idleTimeout: 5000 is greater than" in line
    assert control.endpoints == {}


def test_the_build_context_installs_this_vfx_ingest(control, cli, tmp_path):
    result = deploy(cli, tmp_path, "--context-only")
    assert result.exit_code == 0, result.stderr
    assert control.requests == []  # no API call
    assert result.stdout.splitlines() == [
        f"docker build --platform linux/amd64 -t {IMAGE} {tmp_path / 'ctx'}",
        f"docker push {IMAGE}",
    ]
    ctx = tmp_path / "ctx"
    dockerfile = (ctx / "Dockerfile").read_text()
    wheel = ctx / f"vfx_ingest-{__version__}-py3-none-any.whl"
    assert dockerfile.splitlines()[1].startswith("FROM pytorch/pytorch:")
    assert f'pip install "/tmp/{wheel.name}[runpod,s3,camera]"' in dockerfile
    assert 'CMD ["python", "-u", "-m", "vfx_ingest.backends.runpod.handler"]' in dockerfile
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read(f"vfx_ingest-{__version__}.dist-info/RECORD").decode()
        for name, digest, size in csv.reader(record.splitlines()):
            if digest:  # RECORD lists itself without a digest
                data = archive.read(name)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert digest == "sha256=" + expected.decode() and int(size) == len(data)
    assert "vfx_ingest/backends/runpod/handler.py" in names
    assert not any("synthetic" in n for n in names)  # test material stays out of images
    assert not any("__pycache__" in n for n in names)

    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=120)
    code = (
        "import vfx_ingest, vfx_ingest.backends.runpod.handler as h\n"
        "print(vfx_ingest.__version__, h.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tmp_path,
    )
    version, path = out.stdout.split()
    assert version == __version__ and path.startswith(str(target))


def test_locked_models_are_baked_or_read_from_a_volume(control, cli, tmp_path, monkeypatch):
    weights = b"w" * 100
    registry = tmp_path / "registry.toml"
    registry.write_text(
        registry_toml(
            [
                {
                    "id": "tiny-net",
                    "manual": True,
                    "instructions": "Copy weights.bin into the folder",
                    "files": [{"path": "weights.bin", "sha256": sha256(weights)}],
                }
            ]
        )
    )
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    models = tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models))
    (models / "tiny-net").mkdir(parents=True)
    (models / "tiny-net" / "weights.bin").write_bytes(weights)
    assert cli("models", "lock", "tiny-net").exit_code == 0  # writes ./models.lock

    baked = json.loads(deploy(cli, tmp_path, "--context-only", "--json").stdout)
    assert baked["baked"] == ["tiny-net"] and baked["lock"].endswith("models.lock")
    ctx = tmp_path / "ctx"
    assert (ctx / "models/tiny-net/weights.bin").read_bytes() == weights
    assert (ctx / "models.lock").read_text() == Path(baked["lock"]).read_text()
    assert (ctx / "registry.toml").read_text() == registry.read_text()
    dockerfile = (ctx / "Dockerfile").read_text()
    for line in (
        "VFX_INGEST_MODELS_DIR=/opt/vfx-ingest/models",
        "VFX_INGEST_MODELS_REGISTRY=/opt/vfx-ingest/registry.toml",
        "COPY models/ ./models/",
        "RUN vfx-ingest models verify tiny-net --json > /dev/null",
    ):
        assert line in dockerfile

    (models / "tiny-net" / "weights.bin").write_bytes(b"altered")
    altered = deploy(cli, tmp_path, "--context-only")
    assert altered.exit_code == 2 and "tiny-net (corrupt" in altered.stderr

    no_volume = deploy(cli, tmp_path, "--models", "volume")
    assert no_volume.exit_code == 2 and "network volume" in no_volume.stderr
    monkeypatch.setenv("VFX_INGEST_RUNPOD__NETWORK_VOLUME_ID", "vol123")
    on_volume = json.loads(deploy(cli, tmp_path, "--json").stdout)
    assert on_volume["models"] == "volume" and on_volume["baked"] == []
    dockerfile = (ctx / "Dockerfile").read_text()
    assert "VFX_INGEST_MODELS_DIR=/runpod-volume/vfx-ingest/models" in dockerfile
    assert "VFX_INGEST_HF_CACHE=/runpod-volume/vfx-ingest/hf" in dockerfile
    assert "COPY models.lock ./" in dockerfile and "models verify" not in dockerfile
    (endpoint,) = control.endpoints.values()
    assert endpoint["networkVolumes"] == ["vol123"]


def test_docker_is_run_when_present(control, cli, tmp_path, monkeypatch):
    """A recording stand-in for the docker CLI, which this machine does not have."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    docker = bin_dir / "docker"
    docker.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n[ "$1" != push ] || exit "${{PUSH_EXIT:-0}}"\n'
    )
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    result = deploy(cli, tmp_path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["docker_ran"] is True
    assert log.read_text().splitlines() == [
        f"build --platform linux/amd64 -t {IMAGE} {tmp_path / 'ctx'}",
        f"push {IMAGE}",
    ]
    monkeypatch.setenv("PUSH_EXIT", "3")
    failed = deploy(cli, tmp_path)
    assert failed.exit_code == 2 and "`docker push` failed (exit 3)" in failed.stderr


def test_deploy_without_a_key_or_image_is_bad_input(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = deploy(cli, tmp_path)
    assert result.exit_code == 2 and "RUNPOD_API_KEY" in result.stderr
    assert not (tmp_path / "ctx").exists()
    no_image = cli("deploy", "runpod-serverless", "--context-only")
    assert no_image.exit_code == 2 and "--image" in no_image.stderr
