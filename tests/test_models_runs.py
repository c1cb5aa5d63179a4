"""Runs and models: the planner refuses a missing model before any work, the job carries
model digests, the worker finds the folders offline and the digests key the stage cache.

No stage loads weights yet (depth comes next), so a small stage that reads a weights file
is registered for these tests only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from vfx_ingest import pipeline, worker
from vfx_ingest.config import load_settings
from vfx_ingest.errors import BadInput
from vfx_ingest.models.runtime import registry_for, store_for
from vfx_ingest.models.sync import Syncer
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import StageContext, StageParams, StageResult, StageSpec

from model_servers import FileServer, registry_toml, sha256

V1 = b"weights version 1" * 1000
V2 = b"weights version 2" * 1000


class EchoParams(StageParams):
    pass


def _echo(ctx: StageContext, params: BaseModel) -> StageResult:
    """Copies the model's file into its pass: the output shows which weights it loaded."""
    weights = (ctx.models["test-w"] / "w.bin").read_bytes()
    ctx.write_bytes("echo", "weights.bin", weights)
    return StageResult(stats={"model_dir": str(ctx.models["test-w"])})


ECHO = StageSpec(
    name="echo",
    version="1",
    summary="test stage that loads a model",
    needs=("source",),
    produces=("echo",),
    params=EchoParams,
    run=_echo,
    models=("test-w",),
)


@pytest.fixture
def echo_stage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(REGISTRY, "echo", ECHO)
    registry = tmp_path / "registry.toml"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "models"))
    return registry


def sync(settings, model_id: str = "test-w") -> None:
    registry, store = registry_for(settings), store_for(settings)
    (result,) = Syncer(store).run([registry.get(model_id)])
    assert result.status in ("downloaded", "cached"), result.error


def test_a_missing_model_fails_the_plan_before_anything_is_written(echo_stage, clips, tmp_path):
    echo_stage.write_text(
        registry_toml(
            [
                {
                    "id": "test-w",
                    "sources": ["https://example.invalid/"],
                    "files": [{"path": "w.bin"}],
                }
            ]
        )
    )
    shot = tmp_path / "shot"
    request = pipeline.RunRequest(clip=clips(frames=4), shot=shot, stages=["echo"])
    with pytest.raises(BadInput) as error:
        pipeline.plan(request, load_settings())
    assert "model test-w is not downloaded" in error.value.line()
    assert "Run `vfx-ingest models sync test-w`" in error.value.line()
    assert not shot.exists()


def test_the_job_carries_digests_and_the_worker_resolves_folders(echo_stage, clips, tmp_path):
    shot = tmp_path / "shot"
    with FileServer({"w.bin": V1}) as server:
        echo_stage.write_text(
            registry_toml(
                [
                    {
                        "id": "test-w",
                        "sources": [server.url()],
                        "files": [{"path": "w.bin", "sha256": sha256(V1)}],
                    }
                ]
            )
        )
        settings = load_settings()
        sync(settings)
    # From here on no network: the server is stopped.
    request = pipeline.RunRequest(clip=clips(frames=4), shot=shot, stages=["echo"])
    job = pipeline.plan(request, settings)
    (ref,) = job.models
    assert ref.id == "test-w" and ref.digest
    result = worker.execute(job, models=settings)
    assert result.status == "ok", result.error
    echo = result.records[-1]
    assert echo.stage == "echo" and echo.models == {"test-w": ref.digest}
    assert (shot / "echo" / "weights.bin").read_bytes() == V1
    assert echo.stats["model_dir"] == str(tmp_path / "models" / "test-w")
    # Same weights: cached.
    events = []
    worker.execute(pipeline.plan(request, settings), on_event=events.append, models=settings)
    assert [e.status for e in events if e.type == "stage" and e.stage == "echo"] == ["cached"]


def test_other_weights_change_the_cache_key_and_rerun_the_stage(
    echo_stage, clips, tmp_path, monkeypatch
):
    shot = tmp_path / "shot"
    request = pipeline.RunRequest(clip=clips(frames=4), shot=shot, stages=["echo"])
    keys = []
    for version in (V1, V2):
        with FileServer({"w.bin": version}) as server:
            # A new registry file per version (a registry file is read once per path).
            registry = tmp_path / f"registry-{len(keys)}.toml"
            registry.write_text(
                registry_toml(
                    [
                        {
                            "id": "test-w",
                            "sources": [server.url()],
                            "files": [{"path": "w.bin", "sha256": sha256(version)}],
                        }
                    ]
                )
            )
            monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
            settings = load_settings()
            sync(settings)  # V2: the V1 file no longer matches the registry, so it is replaced
        result = worker.execute(pipeline.plan(request, settings), models=settings)
        assert result.status == "ok", result.error
        assert result.records[-1].status == "done"  # ran, not cached
        keys.append(result.records[-1].cache_key)
        assert (shot / "echo" / "weights.bin").read_bytes() == version
    assert keys[0] != keys[1]


def test_the_worker_refuses_weights_changed_after_planning(echo_stage, clips, tmp_path):
    with FileServer({"w.bin": V1}) as server:
        echo_stage.write_text(
            registry_toml(
                [{"id": "test-w", "sources": [server.url()], "files": [{"path": "w.bin"}]}]
            )
        )
        settings = load_settings()
        sync(settings)
    request = pipeline.RunRequest(clip=clips(frames=4), shot=tmp_path / "shot", stages=["echo"])
    job = pipeline.plan(request, settings)
    weights = tmp_path / "models" / "test-w" / "w.bin"
    weights.write_bytes(V2)  # someone swaps the file between plan and run
    with pytest.raises(BadInput) as error:
        worker.execute(job, models=settings)
    assert "test-w" in error.value.line()
    assert not (tmp_path / "shot" / "echo").exists()


def test_a_remote_run_names_models_by_their_locked_digest_without_local_weights(
    echo_stage, isolated_config
):
    """Remote workers hold their own weights (image or volume): planning a remote run needs
    no local copy, and the job carries the digest `models.lock` pins (the cache key's)."""
    from vfx_ingest.backends.runpod.serverless import RunpodServerlessBackend
    from vfx_ingest.models.lock import LockedFile, LockedModel, LockFile, write_lock

    echo_stage.write_text(
        registry_toml(
            [
                {
                    "id": "test-w",
                    "sources": ["https://example.invalid/"],
                    "files": [{"path": "w.bin"}],
                }
            ]
        )
    )
    locked = LockedModel(
        source="https://example.invalid/",
        files={"w.bin": LockedFile(sha256=sha256(V1), bytes=len(V1))},
        digest="d" * 64,
    )
    write_lock(isolated_config / "models.lock", LockFile(models={"test-w": locked}))
    assert RunpodServerlessBackend.remote
    settings = load_settings()
    with pytest.raises(BadInput, match="not downloaded"):
        pipeline._models([ECHO], {"echo": EchoParams()}, settings, remote=False)
    refs = pipeline._models([ECHO], {"echo": EchoParams()}, settings, remote=True)
    assert [(r.id, r.digest) for r in refs] == [("test-w", "d" * 64)]
    (isolated_config / "models.lock").unlink()
    refs = pipeline._models([ECHO], {"echo": EchoParams()}, settings, remote=True)
    assert [(r.id, r.digest) for r in refs] == [("test-w", None)]
