"""`vfx-ingest run CLIP --stages ingest,depth` end to end, with weights from the model store.

The Hub cannot be reached from here, so a studio registry (the ``models_registry`` setting)
points the models at a file server on 127.0.0.1 serving a checkpoint in the official file
name and layout (``video_depth_anything_vits.pth``, the real ``vits`` state dict filled by
the fixture's rule); ``vfx-ingest models sync`` downloads it into the model cache, and the
run resolves it from there like any other model.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_helpers import filled_network
from vfx_ingest import pipeline
from vfx_ingest.config import load_settings
from vfx_ingest.depth import resume
from vfx_ingest.depth.exr import read_depth
from vfx_ingest.io.images import decode_png
from vfx_ingest.job import ProgressEvent
from vfx_ingest.stages.base import Cancelled

from conftest import use_endpoint
from model_servers import FileServer, registry_toml, sha256

CHECKPOINT = "video_depth_anything_vits.pth"


def vda_entry(model_id: str, url: str, digest: str, **extra: object) -> dict:
    return {
        "id": model_id,
        "stage": "depth",
        "family": "video-depth-anything",
        "variant": "small",
        "license": "Apache-2.0",
        "commercial": True,
        "sources": [url],
        "files": [{"path": CHECKPOINT, "sha256": digest}],
        **extra,
    }


@pytest.fixture
def synced_models(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    buffer = io.BytesIO()
    torch.save(filled_network().state_dict(), buffer)
    data = buffer.getvalue()
    registry = tmp_path / "studio-registry.toml"
    models_dir = tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models_dir))
    with FileServer({CHECKPOINT: data}) as server:
        entries = [
            vda_entry("vda-small", server.url(), sha256(data), default=True),
            # A studio's own fine-tune under a non-commercial licence: the encoder is read
            # off the checkpoint, the variant is only a name.
            vda_entry(
                "studio-vda",
                server.url(),
                sha256(data),
                variant="small-finetune",
                license="CC-BY-NC-4.0",
                commercial=False,
            ),
        ]
        registry.write_text(registry_toml(entries))
        result = cli("models", "sync", "vda-small", "studio-vda")
        assert result.exit_code == 0, result.stderr
    assert (models_dir / "vda-small" / CHECKPOINT).is_file()
    return models_dir


def test_run_ingest_and_depth(cli, clips, synced_models: Path, tmp_path: Path) -> None:
    clip = clips(frames=26, width=96, height=64)
    shot = tmp_path / "shot"
    args = ["run", clip, "--shot", shot, "--stages", "ingest,depth", "--depth-size", "42"]
    result = cli(*args, "--preview", "--json")
    assert result.exit_code == 0, result.stderr
    lines = cli.json_lines(result.stdout)
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "ok"
    depth = next(r for r in lines[-1]["records"] if r["stage"] == "depth")
    assert depth["status"] == "done" and depth["frames"] == "1001-1026"
    assert list(depth["models"]) == ["vda-small"] and depth["models"]["vda-small"]
    assert depth["stats"]["network_size"] == "56x42" and depth["stats"]["windows"] == 1
    frames = sorted((shot / "depth").glob("depth.*.exr"))
    assert [p.name for p in frames] == [f"depth.{n}.exr" for n in range(1001, 1027)]
    values, attributes = read_depth(frames[0])
    assert values.shape == (64, 96) and values.min() >= 0
    assert attributes["vfxingest/values"] == "relative_disparity"
    assert attributes["vfxingest/model"] == "vda-small"
    preview = decode_png((shot / "depth" / "preview" / "depth.1001.png").read_bytes())
    assert preview.dtype.name == "uint16" and preview.shape == (64, 96)
    manifest = json.loads((shot / "shot.json").read_text())
    assert manifest["stages"]["depth"]["outputs"]["depth/depth.1001.exr"]["sha256"]
    # Unchanged: both stages cached.
    again = cli(*args, "--preview", "--json")
    statuses = [e["status"] for e in cli.json_lines(again.stdout) if e["type"] == "stage"]
    assert statuses == ["cached", "cached"]


def test_a_non_commercial_model_says_so_on_stderr(
    cli, clips, synced_models: Path, tmp_path: Path
) -> None:
    clip = clips(frames=3, width=64, height=48)
    shot = tmp_path / "shot"
    args = ["run", clip, "--shot", shot, "-s", "depth", "--depth-model", "studio-vda"]
    result = cli(*args, "--depth-size", "28")
    assert result.exit_code == 0, result.stderr
    assert "depth: note: studio-vda weights are CC-BY-NC-4.0: non-commercial use only" in (
        result.stderr
    )
    assert result.stdout.strip() == str(shot)
    quiet = cli(*args, "--depth-size", "28", "--force", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_an_unknown_or_unsynced_model_fails_before_any_work(
    cli, clips, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "empty-cache"))
    clip = clips(frames=3, width=64, height=48)
    shot = tmp_path / "shot"
    unknown = cli("run", clip, "--shot", shot, "-s", "depth", "--depth-model", "vda-huge")
    assert unknown.exit_code == 2
    assert "unknown model 'vda-huge'" in unknown.stderr
    missing = cli("run", clip, "--shot", shot, "-s", "depth")
    assert missing.exit_code == 2
    assert "model vda-small is not downloaded" in missing.stderr
    assert "vfx-ingest models sync vda-small" in missing.stderr
    assert not shot.exists()


def test_notes_are_never_thinned_from_json(capsys: pytest.CaptureFixture[str]) -> None:
    from vfx_ingest.cli.progress import JsonProgress
    from vfx_ingest.job import ProgressEvent

    display = JsonProgress(interval=60.0)
    for done, message in [(1, ""), (2, ""), (2, "note: vda-large weights are CC-BY-NC-4.0")]:
        display(ProgressEvent(stage="depth", done=done, total=10, message=message))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["done"], e["message"]) for e in lines] == [
        (1, ""),
        (2, "note: vda-large weights are CC-BY-NC-4.0"),
    ]


def test_depth_fans_out_over_remote_chunk_jobs(
    cli, clips, synced_models: Path, s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Depth in two chunk jobs through our RunPod-compatible endpoint on 127.0.0.1 (it
    follows RunPod's published serverless API and runs the real handler) with moto's S3
    server. A chunk reads plate frames outside its range (the windows' keyframes): they are
    sent with it. The second chunk starts inside the clip's first window, so the stitched
    pass equals a local single pass."""
    import dataclasses

    from vfx_ingest.backends.runpod import handler
    from vfx_ingest.backends.runpod.serve import LocalEndpoint
    from vfx_ingest.stages import REGISTRY
    from vfx_ingest.stages.base import Chunking

    spec = REGISTRY["depth"]
    monkeypatch.setitem(
        REGISTRY, "depth", dataclasses.replace(spec, chunking=Chunking(overlap=10, min_frames=20))
    )
    answers: list[dict] = []

    def handle(job, report, cancel):
        answer = handler.handle(job, report, cancel)
        answers.append(answer)
        return answer

    clip = clips(frames=50, width=96, height=64)
    args = ["-s", "depth", "--depth-size", "28"]
    local = cli("run", clip, "--shot", tmp_path / "local", *args)
    assert local.exit_code == 0, local.stderr
    with LocalEndpoint(workers=1, handle=handle) as server:
        use_endpoint(server, monkeypatch)
        remote = cli(
            "run", clip, "--shot", tmp_path / "remote", *args,
            "--backend", "runpod-serverless", "--max-workers", "2",
        )  # fmt: skip
    assert remote.exit_code == 0, remote.stderr
    chunks = sorted(tuple(a["chunks"][0]["frames"]) for a in answers if a.get("chunks"))
    assert chunks == [(1001, 1025), (1016, 1050)]
    for number in (1001, 1020, 1050):
        ours, _ = read_depth(tmp_path / "remote" / "depth" / f"depth.{number}.exr")
        single, _ = read_depth(tmp_path / "local" / "depth" / f"depth.{number}.exr")
        np.testing.assert_allclose(ours, single, rtol=1e-5, atol=1e-6)
    record = json.loads((tmp_path / "remote" / "shot.json").read_text())["stages"]["depth"]
    assert record["status"] == "done" and len(record["stats"]["chunks"]) == 2


def test_an_interrupted_depth_run_resumes_through_the_pipeline(
    clips, synced_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel part-way (as Ctrl-C does), run again: the worker keeps the staging folder,
    the stage goes on from its checkpoint, and the pass equals an uninterrupted run's."""
    monkeypatch.setattr(resume, "EVERY_S", 0.0)  # a checkpoint after every window pass
    clip = clips(frames=70, width=96, height=64)  # 3 windows
    params = {"depth": {"input_size": 42}}

    def request(shot: Path) -> pipeline.RunRequest:
        return pipeline.RunRequest(clip=clip, shot=shot, stages=["ingest", "depth"], params=params)

    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.stage == "depth" and event.done >= 40:
            cancel.set()

    shot = tmp_path / "resumed"
    with pytest.raises(Cancelled):
        pipeline.run(request(shot), load_settings(), on_event, cancel)
    assert not (shot / "depth").exists()  # nothing complete-looking
    result = pipeline.run(request(shot), load_settings(), lambda e: None)
    assert result.status == "ok"
    depth = next(r for r in result.records if r.stage == "depth")
    assert depth.stats["resumed_frames"] == 46 and depth.stats["frames"] == 70

    whole = tmp_path / "whole"
    pipeline.run(request(whole), load_settings(), lambda e: None)
    ours = np.stack([read_depth(p)[0] for p in sorted((shot / "depth").glob("*.exr"))])
    reference = np.stack([read_depth(p)[0] for p in sorted((whole / "depth").glob("*.exr"))])
    assert ours.shape == reference.shape == (70, 64, 96)
    assert np.abs(ours - reference).mean() / np.abs(reference).mean() < 1e-5
