"""hf:// models through the real huggingface_hub, against a Hub double on 127.0.0.1.

The double (tests/model_servers.py, ``HubServer``) follows the routes and headers
huggingface_hub's ``hf_hub_download`` uses; it is a contract double because the Hub itself
cannot be reached from here. huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE
when it is imported, so each command runs as its own process, as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from model_servers import HubServer, Repo, git_sha1, registry_toml, sha256

WEIGHTS = bytes(range(256)) * 2048
CONFIG = b'{"encoder": "vits"}\n'
COMMIT = "c0ffee" + "0" * 34
SECRET = "hf_thisTokenMustNeverBePrinted123"


@pytest.fixture
def hub_env(tmp_path: Path):
    """Run the CLI in a subprocess with a Hub double, an HF_HOME and a registry file."""
    registry = tmp_path / "registry.toml"
    hf_home = tmp_path / "hf-home"

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        full = {
            **os.environ,
            "VFX_INGEST_MODELS_REGISTRY": str(registry),
            "VFX_INGEST_MODELS_DIR": str(tmp_path / "models"),
            "HF_HOME": str(hf_home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            # This checkout's package, whatever the working directory.
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "vfx_ingest", "models", *args],
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.registry = registry  # type: ignore[attr-defined]
    run.hf_home = hf_home  # type: ignore[attr-defined]
    return run


def hub_entry(repo: str, **extra) -> dict:
    files = [{"path": "config.json"}, {"path": "weights.pth"}]
    return {"id": "test-hub", "sources": [f"hf://{repo}@main"], "files": files} | extra


def repo(**extra) -> Repo:
    return Repo(
        {"config.json": CONFIG, "weights.pth": WEIGHTS},
        commit=COMMIT,
        lfs=("weights.pth",),
        **extra,
    )


def test_sync_into_the_hub_cache_then_offline_from_it(hub_env):
    hub_env.registry.write_text(registry_toml([hub_entry("org/depth")]))
    with HubServer({"org/depth": repo()}) as hub:
        result = hub_env("sync", "test-hub", "--json", HF_ENDPOINT=hub.endpoint)
        assert result.returncode == 0, result.stderr
        # The weights came from the CDN origin the Hub redirected to, config.json from the Hub.
        cdn = [r for r in hub.cdn.requests if r["path"] == f"/{sha256(WEIGHTS)}"]
        assert len(cdn) == 1
    snapshot = hub_env.hf_home / "hub" / "models--org--depth" / "snapshots" / COMMIT
    assert (snapshot / "weights.pth").read_bytes() == WEIGHTS
    assert (snapshot / "config.json").read_bytes() == CONFIG
    assert (hub_env.hf_home / "hub" / "models--org--depth" / "refs" / "main").read_text() == COMMIT
    (model,) = [json.loads(x) for x in result.stdout.splitlines() if '"type":"model"' in x]
    assert model["status"] == "downloaded" and model["folder"] == str(snapshot)
    assert model["source"] == f"hf://org/depth@{COMMIT}"

    # The server is gone and the Hub is off: everything resolves from the cache.
    offline = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    again = hub_env("sync", "test-hub", **offline)
    assert again.returncode == 0 and "test-hub: cached" in again.stderr
    assert hub_env("path", "test-hub", **offline).stdout.strip() == str(snapshot)
    verify = hub_env("verify", "test-hub", "--json", **offline)
    (check,) = [json.loads(x) for x in verify.stdout.splitlines()]
    assert verify.returncode == 0 and check["status"] == "ok"
    against = {f["path"]: f["checked_against"] for f in check["files"]}
    assert against == {"weights.pth": "the Hub's LFS digest", "config.json": "the Hub's git id"}

    # lock pins the revision "main" resolved to.
    locked = hub_env("lock", "test-hub", **offline)
    assert locked.returncode == 0, locked.stderr
    lock = json.loads(Path(locked.stdout.strip()).read_text())
    assert lock["models"]["test-hub"]["source"] == f"hf://org/depth@{COMMIT}"
    assert lock["models"]["test-hub"]["files"]["weights.pth"]["sha256"] == sha256(WEIGHTS)

    # A model that is not cached, offline: a clear error naming the variable.
    hub_env.registry.write_text(registry_toml([hub_entry("org/other")]))
    missing = hub_env("sync", "test-hub", **offline)
    assert missing.returncode == 1 and "HF_HUB_OFFLINE is set" in missing.stderr


def test_hub_checksum_mismatch_removes_the_blob(hub_env):
    files = [{"path": "config.json"}, {"path": "weights.pth", "sha256": sha256(b"not it")}]
    hub_env.registry.write_text(registry_toml([hub_entry("org/depth", files=files)]))
    with HubServer({"org/depth": repo()}) as hub:
        result = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 1
    assert "checksum mismatch for test-hub/weights.pth" in result.stderr
    blobs = hub_env.hf_home / "hub" / "models--org--depth" / "blobs"
    assert not (blobs / sha256(WEIGHTS)).exists()
    assert (blobs / git_sha1(CONFIG)).exists()  # the good file stays


def test_gated_model_without_a_token_says_where_to_accept_and_what_to_set(hub_env):
    page = "https://huggingface.co/org/gated"
    entry = hub_entry("org/gated", gated=True, homepage=page)
    hub_env.registry.write_text(registry_toml([entry]))
    with HubServer({"org/gated": repo(gated=True, grant=SECRET)}) as hub:
        result = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint)
        assert hub.requests == []  # known to be gated: no request without a token
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "gated" in line and "no Hugging Face token is set" in line
    assert f"Accept its license at {page}" in line and "set HF_TOKEN" in line


def test_gated_model_with_a_token_without_access_never_prints_the_token(hub_env):
    entry = hub_entry("org/gated", gated=True, homepage="https://huggingface.co/org/gated")
    hub_env.registry.write_text(registry_toml([entry]))
    with HubServer({"org/gated": repo(gated=True, grant="hf_someoneElse")}, (SECRET,)) as hub:
        result = hub_env("sync", "test-hub", "--json", HF_ENDPOINT=hub.endpoint, HF_TOKEN=SECRET)
        assert any(r.get("auth") for r in hub.requests)  # the token was sent, to the Hub
    assert result.returncode == 2
    assert "your token has no access to it" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_gated_model_with_an_accepted_token_downloads(hub_env):
    entry = hub_entry("org/gated", gated=True)
    hub_env.registry.write_text(registry_toml([entry]))
    with HubServer({"org/gated": repo(gated=True, grant=SECRET)}) as hub:
        result = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint, HF_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_a_repo_the_hub_does_not_know_is_bad_input(hub_env):
    hub_env.registry.write_text(registry_toml([hub_entry("org/nope")]))
    with HubServer({}) as hub:
        result = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 2 and "org/nope was not found on the Hub" in result.stderr


class RefusingHub:
    """A port on 127.0.0.1 that accepts each connection and closes it at once: a Hub that
    cannot be reached (as behind a broken proxy). Counts the connections made."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> RefusingHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize("retries", [0, 2])
def test_an_unreachable_hub_is_tried_as_often_as_asked_and_the_line_says_what_to_do(
    hub_env, retries
):
    hub_env.registry.write_text(registry_toml([hub_entry("org/depth")]))
    with RefusingHub() as hub:
        result = hub_env("sync", "test-hub", "--retries", str(retries), HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 1
    assert hub.connections == retries + 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: test-hub: the Hugging Face Hub") and hub.endpoint in line
    for fix in ("HTTPS_PROXY", "HF_ENDPOINT", "models--<org>--<name>", str(hub_env.hf_home)):
        assert fix in line, fix


def test_a_token_the_hub_does_not_know_is_refused_even_for_a_public_repo(hub_env):
    hub_env.registry.write_text(registry_toml([hub_entry("org/public")]))
    with HubServer({"org/public": repo()}) as hub:
        result = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint, HF_TOKEN=SECRET)
    assert result.returncode == 2
    assert "the Hub refused the Hugging Face token" in result.stderr and "HF_TOKEN" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_a_private_repo_is_found_with_its_token_only(hub_env):
    hub_env.registry.write_text(registry_toml([hub_entry("org/private")]))
    with HubServer({"org/private": repo(private=True, grant=SECRET)}, ("hf_other",)) as hub:
        hidden = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint)
        other = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint, HF_TOKEN="hf_other")
        found = hub_env("sync", "test-hub", HF_ENDPOINT=hub.endpoint, HF_TOKEN=SECRET)
    for refused in (hidden, other):
        assert refused.returncode == 2
        assert "org/private was not found on the Hub, or is private" in refused.stderr
    assert found.returncode == 0, found.stderr
