"""The matte pass as a user gets it: `vfx-ingest run CLIP --stages matte`, end to end.

The VitMatte weights are the tiny random network of ``matte_helpers``, served from
127.0.0.1 under a studio registry entry with the official files (``config.json``,
``model.safetensors``) and fetched with `vfx-ingest models sync`, then resolved from the
model store like any model. The roto pass is the real roto stage on the tiny random SAM 2.1
checkpoint of the roto tests (``roto_helpers``), so its masks are arbitrary: what is
checked is what the matte makes of whatever masks it is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from matte_helpers import composite, moving_discs, write_vitmatte
from vfx_ingest.frames import frame_path
from vfx_ingest.matte.frames import read_matte

from model_servers import FileServer, registry_toml, sha256

COUNT, WIDTH, HEIGHT = 8, 96, 64
COLOURS = [(0.9, 0.2, 0.1), (0.1, 0.3, 0.9)]


@pytest.fixture
def synced(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """VitMatte synced from a file server; the tiny SAM 2.1 checkpoint of the roto tests
    in the store too (``roto_helpers.install_models``), both in one studio registry."""
    from roto_helpers import install_models

    weights = write_vitmatte(tmp_path / "weights")
    files = {p.name: p.read_bytes() for p in weights.iterdir()}
    registry = tmp_path / "studio-registry.toml"
    models_dir = tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models_dir))
    install_models(models_dir, registry)
    roto_entries = registry.read_text()
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
        registry.write_text(roto_entries + "\n" + registry_toml([entry]))
        result = cli("models", "sync", "vitmatte-small")
        assert result.exit_code == 0, result.stderr
    return models_dir


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    from support.synthetic import encode_mp4

    frames = [composite(a, COLOURS) for a in moving_discs(COUNT, HEIGHT, WIDTH)]
    encode_mp4(frames, tmp_path / "discs.mp4", fps=24)
    return tmp_path / "discs.mp4"


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


def test_roto_and_matte_in_one_run(cli, clip: Path, synced: Path, tmp_path: Path) -> None:
    """The whole user flow: a click on the car, roto (tiny random SAM 2.1) and matte in one
    command; every mask the roto pass made gets its matte, known regions exact."""
    from vfx_ingest.io.images import decode_png
    from vfx_ingest.matte.trimap import make_trimap

    shot = tmp_path / "shot"
    args = ["run", clip, "--shot", shot, "--stages", "roto,matte", "--points", "1001:30,32"]
    result = cli(*args, "--label", "car", "--trimap-band", "3", "--matte-png", "--json")
    assert result.exit_code == 0, result.stderr
    records = {r["stage"]: r for r in cli.json_lines(result.stdout)[-1]["records"]}
    assert records["roto"]["status"] == records["matte"]["status"] == "done"
    assert records["matte"]["inputs"]["roto"] == records["roto"]["output_digest"]
    assert list(records["matte"]["models"]) == ["vitmatte-small"]
    assert records["matte"]["frames"] == f"1001-{1000 + COUNT}"
    numbers = range(1001, 1001 + COUNT)
    band = 0
    for number in numbers:
        mask = decode_png((shot / "roto" / "car" / frame_path("roto", number, "png")).read_bytes())
        alpha, _ = read_matte(shot / "matte" / "car" / frame_path("matte", number, "exr"))
        trimap = make_trimap(torch.from_numpy(mask >= 128), 3).numpy()
        assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
        assert alpha.min() >= 0 and alpha.max() <= 1
        band += int((trimap == 128).sum())
        png = decode_png(
            (shot / "matte" / "car" / "png" / frame_path("matte", number, "png")).read_bytes()
        )
        assert png.dtype == np.uint16 and np.abs(png / 65535.0 - alpha).max() < 1e-3
    assert band > 0  # the masks have edges to refine
    # Later: the matte alone reuses the shot's roto pass; nothing to do.
    again = cli(
        "run", clip, "--shot", shot, "--stages", "matte", "--trimap-band", "3", "--matte-png",
        "--json",
    )  # fmt: skip
    statuses = {
        e["stage"]: e["status"] for e in cli.json_lines(again.stdout) if e["type"] == "stage"
    }
    assert statuses == {"ingest": "cached", "matte": "cached"}


def test_matanyone_is_listed_but_not_run(cli, clip: Path, tmp_path: Path) -> None:
    listed = cli("models", "list", "--stage", "matte", "--json")
    assert listed.exit_code == 0, listed.stderr
    entries = {e["id"]: e for e in cli.json_lines(listed.stdout)}
    assert list(entries) == [
        "vitmatte-small", "vitmatte-base", "rvm-mobilenetv3", "rvm-resnet50", "matanyone"
    ]  # fmt: skip
    assert entries["vitmatte-small"]["default"] and not entries["matanyone"]["default"]
    assert not entries["matanyone"]["commercial"]
    assert entries["matanyone"]["notes"].startswith("Not runnable by the matte stage")
    assert "research-only" in entries["vitmatte-small"]["notes"]
    shot = tmp_path / "shot"
    result = cli("run", clip, "--shot", shot, "--stages", "matte", "--matte-model", "matanyone")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "matanyone is not runnable by the matte stage" in lines[0]
    assert not shot.exists()
