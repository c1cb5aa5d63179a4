"""`models sync|verify|lock|path|list` with https-style sources, against a real HTTP server
on 127.0.0.1 (tests/model_servers.py): success, checksum mismatch, resume, 404, timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_servers import FileServer, registry_toml, sha256

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB, not all the same byte
OTHER = b"other weights" * 1000


@pytest.fixture
def models_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A registry file and models_dir for the test, through the real settings."""
    registry = tmp_path / "registry.toml"
    models_dir = tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("VFX_INGEST_HF_CACHE", str(tmp_path / "hub"))

    def write(*models: dict) -> Path:
        registry.write_text(registry_toml(list(models)))
        return models_dir

    return write


def entry(server: FileServer, *, digest: str | None = None, **extra) -> dict:
    file = {"path": "w.bin"} | ({"sha256": digest} if digest else {})
    return {"id": "test-w", "sources": [server.url()], "files": [file]} | extra


def test_sync_downloads_verifies_and_is_then_cached(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}) as server:
        models_dir = models_env(entry(server, digest=sha256(WEIGHTS)))
        result = cli("models", "sync", "test-w")
        assert result.exit_code == 0, result.stderr
        path = models_dir / "test-w" / "w.bin"
        assert path.read_bytes() == WEIGHTS
        assert not list(path.parent.glob("*.part"))
        assert "test-w: downloaded" in result.stderr
        gets = len(server.requests)
        again = cli("models", "sync", "test-w")
        assert again.exit_code == 0 and "test-w: cached" in again.stderr
        assert len(server.requests) == gets  # nothing fetched the second time
    # No server any more: path, verify and list work from the cache alone.
    assert cli("models", "path", "test-w").stdout.strip() == str(path.parent)
    verified = cli("models", "verify", "test-w", "--json")
    (check,) = cli.json_lines(verified.stdout)
    assert verified.exit_code == 0 and check["status"] == "ok"
    assert check["files"][0]["checked_against"] == "registry"
    rows = {row["id"]: row for row in cli.json_lines(cli("models", "list", "--json").stdout)}
    assert rows["test-w"]["cached"] == str(path.parent)
    assert rows["test-w"]["size"] == len(WEIGHTS)  # not published: measured on disk
    assert rows["vda-small"]["cached"] is None  # the built-in entries are listed too


def test_checksum_mismatch_removes_the_file_and_exits_1(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}) as server:
        models_dir = models_env(entry(server, digest=sha256(OTHER)))
        result = cli("models", "sync", "test-w")
    assert result.exit_code == 1
    assert "checksum mismatch for test-w/w.bin" in result.stderr
    assert "the file was removed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    folder = models_dir / "test-w"
    assert not (folder / "w.bin").exists() and not list(folder.glob("*.part"))


def test_interrupted_download_resumes_with_a_range_request(cli, models_env):
    half = len(WEIGHTS) // 2
    with FileServer({"w.bin": WEIGHTS}, drop_after=half) as server:
        models_dir = models_env(entry(server, digest=sha256(WEIGHTS)))
        first = cli("models", "sync", "test-w", "--retries", "0")
        assert first.exit_code == 1 and "partial file is kept" in first.stderr
        partial = models_dir / "test-w" / "w.bin.part"
        assert partial.stat().st_size == half
        server.drop_after = None
        second = cli("models", "sync", "test-w")
        assert second.exit_code == 0, second.stderr
        assert server.requests[-1]["range"] == f"bytes={half}-"
    assert (models_dir / "test-w" / "w.bin").read_bytes() == WEIGHTS
    assert not partial.exists()


def test_a_dropped_connection_is_retried_and_resumed_in_the_same_run(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}, drop_after=1000, drop_times=2) as server:
        models_dir = models_env(entry(server, digest=sha256(WEIGHTS)))
        result = cli("models", "sync", "test-w", "--retries", "3")
        assert result.exit_code == 0, result.stderr
        assert [r["range"] for r in server.requests] == [None, "bytes=1000-", "bytes=2000-"]
    assert (models_dir / "test-w" / "w.bin").read_bytes() == WEIGHTS


def test_404_fails_with_the_url_and_is_not_retried(cli, models_env):
    with FileServer({}) as empty:
        models_env(entry(empty))
        missing = cli("models", "sync", "test-w")
    assert missing.exit_code == 1
    assert "HTTP 404" in missing.stderr and empty.url("w.bin") in missing.stderr
    assert len(empty.requests) == 1


def test_fallback_to_the_second_source(cli, models_env):
    with FileServer({}) as empty, FileServer({"w.bin": WEIGHTS}) as mirror:
        models_dir = models_env(
            {"id": "test-w", "sources": [empty.url(), mirror.url()], "files": [{"path": "w.bin"}]}
        )
        result = cli("models", "sync", "test-w", "--json")
        assert result.exit_code == 0, result.stderr
    events = cli.json_lines(result.stdout)
    (done,) = [e for e in events if e["type"] == "model"]
    assert done["status"] == "downloaded" and done["source"] == mirror.url()
    progress = [e for e in events if e["type"] == "download"]
    assert progress[-1]["done"] == progress[-1]["total"] == len(WEIGHTS)
    # No published digest: the one taken while downloading is recorded, and checked later.
    record = json.loads((models_dir / "test-w" / ".vfx-ingest-model.json").read_text())
    assert record["files"]["w.bin"]["sha256"] == sha256(WEIGHTS)


def test_slow_server_times_out_within_the_retries(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}, delay=5.0) as server:
        models_env(entry(server))
        result = cli("models", "sync", "test-w", "--timeout", "0.3", "--retries", "1")
    # Each attempt gave up on its own (the server would have answered after 5 s): two
    # requests, the timeout named; no wall-clock bound (it would fail on a loaded machine).
    assert result.exit_code == 1
    assert "timeout" in result.stderr and "after 2 attempts" in result.stderr
    assert len(server.requests) == 2


def test_verify_finds_a_corrupt_file_and_exits_1(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}) as server:
        models_dir = models_env(entry(server))  # no published digest: the recorded one counts
        assert cli("models", "sync", "test-w").exit_code == 0
    path = models_dir / "test-w" / "w.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    result = cli("models", "verify", "test-w")
    assert result.exit_code == 1
    assert "test-w does not verify" in result.stderr and "models sync test-w" in result.stderr
    assert "corrupt" in result.stdout


def test_lock_records_digests_and_sync_locked_refuses_anything_else(cli, models_env, tmp_path):
    with FileServer({"w.bin": WEIGHTS, "o.bin": OTHER}) as server:
        models_dir = models_env(
            entry(server),
            {"id": "test-o", "sources": [server.url()], "files": [{"path": "o.bin"}]},
        )
        assert cli("models", "sync", "test-w").exit_code == 0
        locked = cli("models", "lock")
        assert locked.exit_code == 0, locked.stderr
        lock_path = Path(locked.stdout.strip())
        assert lock_path == Path.cwd() / "models.lock"
        lock = json.loads(lock_path.read_text())
        assert list(lock["models"]) == ["test-w"]  # only what is downloaded
        assert lock["models"]["test-w"]["files"]["w.bin"] == {
            "sha256": sha256(WEIGHTS),
            "bytes": len(WEIGHTS),
        }
        assert lock["models"]["test-w"]["source"] == server.url()
        # Not in the lock: refused.
        refused = cli("models", "sync", "--locked", "test-o")
        assert refused.exit_code == 2 and "not in models.lock" in refused.stderr
        # In the lock, but the source now serves other bytes: refused, nothing kept.
        (models_dir / "test-w" / "w.bin").unlink()
        server.files["w.bin"] = OTHER
        mismatch = cli("models", "sync", "--locked", "test-w")
        assert mismatch.exit_code == 1 and "models.lock says" in mismatch.stderr
        assert not (models_dir / "test-w" / "w.bin").exists()
        server.files["w.bin"] = WEIGHTS
        assert cli("models", "sync", "--locked", "test-w").exit_code == 0


def test_sync_locked_without_a_lock_file_is_bad_input(cli, models_env):
    models_env({"id": "test-w", "sources": ["https://example.invalid/"], "files": [{"path": "w"}]})
    result = cli("models", "sync", "--locked", "test-w")
    assert result.exit_code == 2 and "no models.lock" in result.stderr


def test_path_of_a_missing_model_names_the_sync_command(cli, models_env):
    models_env({"id": "test-w", "sources": ["https://example.invalid/"], "files": [{"path": "w"}]})
    result = cli("models", "path", "test-w")
    assert result.exit_code == 2 and result.stdout == ""
    assert "vfx-ingest models sync test-w" in result.stderr


def test_unknown_model_suggests_close_ids(cli):
    result = cli("models", "sync", "vda-smal")
    assert result.exit_code == 2 and "vda-small" in result.stderr


def test_sync_by_stage_takes_the_stage_default(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}) as server:
        # A studio registry may add a default for a stage this build has (ingest has none).
        models_env(
            entry(server, default=True, stage="ingest"),
            entry(server, id="test-other", stage="ingest"),
        )
        result = cli("models", "sync", "--stages", "ingest", "--json")
        assert result.exit_code == 0, result.stderr
    synced = [e["id"] for e in cli.json_lines(result.stdout) if e["type"] == "model"]
    assert synced == ["test-w"]
    unknown = cli("models", "sync", "--stages", "nope")
    assert unknown.exit_code == 2 and "unknown stage 'nope'" in unknown.stderr


def test_429_and_503_are_retried_no_sooner_than_the_server_asks(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}, fail=[429, 503], retry_after="1") as server:
        models_env(entry(server, digest=sha256(WEIGHTS)))
        result = cli("models", "sync", "test-w", "--retries", "2")
    assert result.exit_code == 0, result.stderr
    at = [r["at"] for r in server.requests]
    assert len(at) == 3
    # Lower bounds only (a loaded machine is slower, never faster): Retry-After: 1 was kept.
    assert at[1] - at[0] >= 1.0 and at[2] - at[1] >= 1.0


def test_5xx_until_the_retries_run_out_fails_and_publishes_nothing(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}, fail=[500, 502, 500]) as server:
        models_dir = models_env(entry(server))
        result = cli("models", "sync", "test-w", "--retries", "2")
    assert result.exit_code == 1
    assert "HTTP 500" in result.stderr and "after 3 attempts" in result.stderr
    assert len(server.requests) == 3
    assert not (models_dir / "test-w" / "w.bin").exists()


def test_a_server_that_ignores_range_gets_the_whole_file_again(cli, models_env):
    with FileServer({"w.bin": WEIGHTS}, drop_after=1000, drop_times=1, ignore_range=True) as server:
        models_dir = models_env(entry(server, digest=sha256(WEIGHTS)))
        result = cli("models", "sync", "test-w", "--retries", "1")
    assert result.exit_code == 0, result.stderr
    first, second = server.requests
    assert first["range"] is None and second["range"] == "bytes=1000-"  # asked to resume
    assert (models_dir / "test-w" / "w.bin").read_bytes() == WEIGHTS  # got it whole
