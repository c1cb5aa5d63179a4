"""The matte pass as a user gets it: `vfx-ingest run CLIP --stages matte`, end to end.

The VitMatte weights are the tiny random network of ``matte_helpers``, served from
127.0.0.1 under a studio registry entry with the official files (``config.json``,
``model.safetensors``) and fetched with `vfx-ingest models sync`, then resolved from the
model store like any model. The roto pass is made through the worker (``worker.execute``:
its cache key, staging, swap and record are the real ones) by a runner that paints the
known masks instead of running SAM: a test double for the SAM network only, which cannot
run here without weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matte_helpers import composite, moving_discs, write_vitmatte
from vfx_ingest.frames import frame_path
from vfx_ingest.io.images import encode_png
from vfx_ingest.job import Job, StageRequest
from vfx_ingest.matte.frames import read_matte
from vfx_ingest.stages.base import StageContext, StageParams, StageResult, StageSpec
from vfx_ingest.worker import Ran, execute

from model_servers import FileServer, registry_toml, sha256

COUNT, WIDTH, HEIGHT = 8, 96, 64
COLOURS = [(0.9, 0.2, 0.1), (0.1, 0.3, 0.9)]


@pytest.fixture
def synced(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    weights = write_vitmatte(tmp_path / "weights")
    files = {p.name: p.read_bytes() for p in weights.iterdir()}
    registry = tmp_path / "studio-registry.toml"
    models_dir = tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models_dir))
    with FileServer(files) as server:
        entry = {
            "id": "vitmatte-small",
            "stage": "matte",
            "family": "vitmatte",
            "variant": "small",
            "license": "Apache-2.0",
            "default": True,
            "sources": [server.url()],
            "files": [{"path": name, "sha256": sha256(data)} for name, data in files.items()],
        }
        registry.write_text(registry_toml([entry]))
        result = cli("models", "sync", "vitmatte-small")
        assert result.exit_code == 0, result.stderr
    return models_dir


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    from vfx_ingest.synthetic import encode_mp4

    frames = [composite(a, COLOURS) for a in moving_discs(COUNT, HEIGHT, WIDTH)]
    encode_mp4(frames, tmp_path / "discs.mp4", fps=24)
    return tmp_path / "discs.mp4"


class PaintedRoto:
    """A ``StageRunner`` for the roto stage that writes the discs' known masks (for every
    plate frame, roto's output contract) where SAM would write its own."""

    def device(self, job: Job, spec: StageSpec) -> str:
        return "cpu"

    def run(self, ctx: StageContext, spec: StageSpec, params: StageParams) -> Ran:
        discs = moving_discs(COUNT, HEIGHT, WIDTH)
        for k, label in enumerate(("car", "hero")):
            for i, number in enumerate(range(1001, 1001 + COUNT)):
                mask = np.where(discs[i][k] >= 0.5, 255, 0).astype(np.uint8)
                ctx.write_bytes(
                    "roto", f"{label}/{frame_path('roto', number, 'png')}", encode_png(mask)
                )
        ctx.write_bytes("roto", "objects.json", json.dumps({"objects": ["car", "hero"]}).encode())
        return Ran(StageResult())


def test_matte_without_a_roto_pass_says_which_stages_to_run(
    cli, clip: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "shot"
    for stages in ("matte", "ingest,matte", "roto,matte"):
        result = cli("run", clip, "--shot", shot, "--stages", stages)
        assert result.exit_code == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--stages roto,matte" in lines[0], lines
        assert "roto pass" in lines[0]
        assert not shot.exists()  # planned only: nothing written


def test_roto_then_matte_on_a_shot(cli, clip: Path, synced: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot"
    ingest = cli("run", clip, "--shot", shot, "--stages", "ingest")
    assert ingest.exit_code == 0, ingest.stderr
    roto = Job(
        shot=str(shot),
        stages=[StageRequest(name="roto", params={"points": "1001:30,32", "label": "car"})],
        device="cpu",
    )
    assert execute(roto, runner=PaintedRoto()).status == "ok"

    args = ["run", clip, "--shot", shot, "--stages", "matte", "--trimap-band", "4"]
    result = cli(*args, "--matte-png", "--json")
    assert result.exit_code == 0, result.stderr
    lines = cli.json_lines(result.stdout)
    assert lines[-1]["status"] == "ok"
    record = next(r for r in lines[-1]["records"] if r["stage"] == "matte")
    assert record["status"] == "done" and record["frames"] == f"1001-{1000 + COUNT}"
    assert set(record["inputs"]) == {"plate", "roto"}  # the roto pass joins the cache key
    assert list(record["models"]) == ["vitmatte-small"]
    for label in ("car", "hero"):
        names = sorted(p.name for p in (shot / "matte" / label).glob("matte.*.exr"))
        assert names == [frame_path("matte", n, "exr") for n in range(1001, 1001 + COUNT)]
        assert len(list((shot / "matte" / label / "png").glob("*.png"))) == COUNT
    alpha, header = read_matte(shot / "matte" / "car" / "matte.1004.exr")
    assert alpha.shape == (HEIGHT, WIDTH) and header["vfxingest/trimap_band"] == "4"
    assert set(np.unique(alpha[:4, :4])) == {0.0}  # far from the disc: known background
    again = cli(*args, "--matte-png", "--json")
    statuses = {
        e["stage"]: e["status"] for e in cli.json_lines(again.stdout) if e["type"] == "stage"
    }
    assert statuses == {"ingest": "cached", "matte": "cached"}
