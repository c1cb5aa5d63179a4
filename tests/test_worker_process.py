"""Remote workers as their own processes with their own environment, as on RunPod: the
worker (``vfx-ingest worker serve``, our RunPod-compatible endpoint running the real
handler under the RunPod SDK's runtime) is started in a separate process whose
environment has no client credential, no client models folder and no client config; it
holds its own weights, as an image or a network volume does. Object storage is moto's
S3 server on 127.0.0.1; the worker reaches it only through the job's presigned URLs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from depth_helpers import filled_network
from test_depth_cli import CHECKPOINT, vda_entry
from vfx_ingest.depth.exr import read_depth
from vfx_ingest.stages import REGISTRY

from conftest import REPO
from modal_stages import ENVIRON
from model_servers import FileServer, registry_toml, sha256

TOKEN = "worker-token-for-this-test-0123456789"
START_S = 60


class WorkerProcess:
    """``worker serve`` in its own process; stopped like Ctrl-C (its jobs cancelled)."""

    def __init__(self, root: Path, storage_url: str, registry: Path) -> None:
        self.root = root
        self.env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_CACHE_HOME": str(root / "cache"),
            "XDG_DATA_HOME": str(root / "data"),
            "VFX_INGEST_MODELS_DIR": str(root / "models"),  # the image's weights
            "VFX_INGEST_MODELS_REGISTRY": str(registry),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [os.environ.get("PYTHONPATH"), str(REPO / "src")])
            ),
        }
        self.storage_url = storage_url
        self.process: subprocess.Popen | None = None
        self.url = ""

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(REPO / "tests" / "worker_main.py"), *args],
            env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def __enter__(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [
                sys.executable, str(REPO / "tests" / "worker_main.py"), "worker", "serve",
                "--port", "0", "--storage-url", self.storage_url,
            ],
            env={**self.env, "VFX_INGEST_SERVE_TOKEN": TOKEN},
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        found = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stderr is not None
            for line in self.process.stderr:
                if "endpoint on http://" in line and not found.is_set():
                    self.url = line.split(" on ", 1)[1].split(": set", 1)[0]
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(START_S):
            self.__exit__()
            raise AssertionError("the worker process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def worker(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerProcess]:
    """The worker, with ``vda-small`` synced into its own models folder; the client
    pointed at it, with its own (different) models folder, config and credentials."""
    buffer = io.BytesIO()
    torch.save(filled_network().state_dict(), buffer)
    data = buffer.getvalue()
    registry = tmp_path / "studio-registry.toml"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "client-models"))
    monkeypatch.setenv("RUNPOD_API_KEY", TOKEN)
    monkeypatch.setenv("VFX_INGEST_RUNPOD__ENDPOINT_ID", "local")
    monkeypatch.setenv("VFX_INGEST_RUNPOD__POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "client-only-aws-secret")
    monkeypatch.setitem(REGISTRY, "environ", ENVIRON)
    with WorkerProcess(tmp_path / "worker", s3.url, registry) as process:
        with FileServer({CHECKPOINT: data}) as server:
            registry.write_text(
                registry_toml([vda_entry("vda-small", server.url(), sha256(data), default=True)])
            )
            synced = process.command("models", "sync", "vda-small")
            assert synced.returncode == 0, synced.stderr
        monkeypatch.setenv("VFX_INGEST_RUNPOD__API_URL", process.url)
        yield process


def test_the_worker_sees_no_client_credential_models_folder_or_config(
    worker, cli, clips, s3, tmp_path
):
    shot = tmp_path / "shot"
    args = ["--shot", shot, "--backend", "runpod-serverless"]
    result = cli("run", clips(frames=3), "--stages", "ingest,environ", *args)
    assert result.exit_code == 0, result.stderr
    assert len(list((shot / "plate").glob("plate.*.png"))) == 3  # ingest ran there too
    seen = json.loads((shot / "environ" / "environ.json").read_text())
    names = set(seen["names"])
    assert "RUNPOD_API_KEY" not in names
    assert not {n for n in names if n.startswith(("AWS_", "VFX_INGEST_S3", "VFX_INGEST_RUNPOD"))}
    assert "VFX_INGEST_CONFIG" not in names
    assert seen["paths"]["VFX_INGEST_MODELS_DIR"] == str(worker.root / "models")
    assert seen["paths"]["XDG_CONFIG_HOME"] == str(worker.root / "config")
    assert str(tmp_path / "client-models") not in json.dumps(seen)
    assert s3.secret not in json.dumps(seen)


def test_depth_runs_on_the_workers_own_weights(worker, cli, clips, tmp_path):
    """The client has no weights at all: the worker loads its own."""
    assert not (tmp_path / "client-models").exists()
    clip = clips(frames=20, width=96, height=64)
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    result = cli(
        "run", clip, "--shot", shot, "--stages", "depth", "--depth-size", "28",
        "--backend", "runpod-serverless",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    values, attributes = read_depth(shot / "depth" / "depth.1001.exr")
    assert values.shape == (64, 96) and attributes["vfxingest/model"] == "vda-small"
    assert not (tmp_path / "client-models").exists()
