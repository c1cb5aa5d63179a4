"""`vfx-ingest run CLIP --stages roto` end to end, with tiny random SAM checkpoints found
through a studio registry and the model store: masks for every plate frame, objects.json,
prompts reused by later runs, bad prompts refused before any work, text prompts giving one
folder per instance, and the camera keeping features off the masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from roto_helpers import disc_frames, install_models
from vfx_ingest.io.images import decode_png
from vfx_ingest.manifest import Manifest

FRAMES, WIDTH, HEIGHT = 10, 96, 64


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry, models_dir = tmp_path / "studio-registry.toml", tmp_path / "models"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(models_dir))
    install_models(models_dir, registry, text=True)
    return models_dir


@pytest.fixture(scope="module")
def disc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vfx_ingest.synthetic import encode_mp4

    path = tmp_path_factory.mktemp("disc") / "disc.mp4"
    return encode_mp4(disc_frames(FRAMES, WIDTH, HEIGHT), path, crf=12, preset="ultrafast")


def masks_of(shot: Path, label: str) -> list[Path]:
    return sorted((shot / "roto" / label).glob("roto.*.png"))


def test_clicks_give_a_mask_for_every_plate_frame_and_later_runs_reuse_the_pass(
    cli, models, disc_clip, tmp_path
) -> None:
    shot = tmp_path / "shot"
    args = ["run", disc_clip, "--shot", shot, "--stages", "roto"]
    result = cli(*args, "--points", "1001:20,20;1004:26,23", "--boxes", "1001:5,5,40,40",
                 "--label", "ball", "--roto-soft")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    files = masks_of(shot, "ball")
    assert [f.name for f in files] == [f"roto.{n}.png" for n in range(1001, 1001 + FRAMES)]
    for path in files:
        mask = decode_png(path.read_bytes())
        assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
    soft = sorted((shot / "roto" / "ball" / "soft").glob("roto_soft.*.png"))
    assert len(soft) == FRAMES
    document = json.loads((shot / "roto" / "objects.json").read_text())
    assert document["schema"] == "vfx-ingest.roto/1"
    assert document["model"]["id"] == "sam2.1-hiera-base-plus"
    assert document["model"]["license"] == "Apache-2.0"
    assert document["frames"]["numbers"] == list(range(1001, 1001 + FRAMES))
    assert [(o["label"], o["id"]) for o in document["objects"]] == [("ball", 1)]
    assert set(document["objects"][0]["presence"]) <= {str(n) for n in range(1001, 1011)}
    prompts = json.loads((shot / "roto" / "prompts.json").read_text())
    assert [p["frame"] for p in prompts["prompts"]] == [1001, 1004]
    assert prompts["prompts"][0]["box"] == [5, 5, 40, 40]
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["roto"]
    assert record.status == "done" and record.params["model"] == "sam2.1-hiera-base-plus"
    assert record.stats["labels"] == ["ball"] and record.stats["frames"] == FRAMES

    # No prompt now: the shot's pass is reused as it was made, not recomputed.
    again = cli(*args, "--json")
    assert again.exit_code == 0, again.stderr
    events = cli.json_lines(again.stdout)
    assert any(e.get("stage") == "roto" and e.get("status") == "cached" for e in events)
    # An option given now changes the pass: it reruns with the recorded prompts.
    grown = cli(*args, "--roto-grow", "2", "--json")
    assert grown.exit_code == 0, grown.stderr
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["roto"]
    assert record.params["grow"] == 2 and record.params["points"] == "1001:20,20;1004:26,23"


def test_without_a_prompt_or_a_pass_the_run_says_what_to_give(cli, disc_clip, tmp_path) -> None:
    shot = tmp_path / "shot"
    result = cli("run", disc_clip, "--shot", shot, "--stages", "roto")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--prompt" in lines[0] and "--points" in lines[0]
    assert "--stages roto,matte --prompt person" in lines[0]
    assert not shot.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--points", "1200:10,10"], "has no frame 1200"),
        (["--points", "1001:500,10"], "outside the 96x64 plate"),
        (["--boxes", "1001:30,30,10,10"], "is not inside the 96x64 plate"),
        (["--points", "1001:10"], "cannot read '1001:10'"),
        (["--prompts", "PROMPTS"], "unknown label 'villain'"),
        (["--prompt", "person", "--points", "1001:1,1"], "were both given"),
        (["--prompt", "person", "--roto-model", "sam2.1-hiera-tiny"], "need SAM 3"),
    ],
)
def test_bad_prompts_stop_before_any_work(cli, disc_clip, tmp_path, options, message) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps(
            {
                "objects": [{"label": "hero"}],
                "prompts": [
                    {"label": "hero", "frame": 1001, "points": [[10, 10]]},
                    {"label": "villain", "frame": 1002, "points": [[20, 20]]},
                ],
            }
        )
    )
    shot = tmp_path / "shot"
    options = [str(prompts) if o == "PROMPTS" else o for o in options]
    result = cli("run", disc_clip, "--shot", shot, "--stages", "roto", *options)
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not shot.exists()


def test_text_prompts_give_one_folder_per_instance(cli, models, disc_clip, tmp_path) -> None:
    shot = tmp_path / "shot"
    result = cli("run", disc_clip, "--shot", shot, "--stages", "roto", "--prompt", "person",
                 "--roto-detection", "0.15")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads((shot / "roto" / "objects.json").read_text())
    labels = [o["label"] for o in document["objects"]]
    assert labels and labels == [f"person_{k:02d}" for k in range(1, len(labels) + 1)]
    assert all(o["text"] == "person" for o in document["objects"])
    assert document["model"] == {
        "id": "sam3",
        "license": "SAM License",
        "commercial": True,
        "gated": True,
    }
    for label in labels:
        assert len(masks_of(shot, label)) == FRAMES  # empty masks where it is absent
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["roto"]
    assert record.params["model"] == "sam3" and record.params["prompt"] == "person"


def test_roto_then_camera_keeps_features_off_the_moving_object(cli, models, tmp_path) -> None:
    """A synthetic orbit with a disc moving across it: roto seeded with the disc's mask on
    every fourth frame (a prompts file; random weights only carry it loosely between),
    then the camera solve, which reads the masks (its record names the roto pass as an
    input) and hands COLMAP and nerfstudio the static part of every frame."""
    from vfx_ingest.io.images import encode_png
    from vfx_ingest.synthetic import Intrinsics, camera_path, clip_scene, encode_mp4, render_frames

    frames, width, height = 16, 320, 180
    k = Intrinsics.from_focal(width, height, 28.0, 36.0)
    scene = clip_scene(k)
    poses = camera_path("orbit", frames, 8, target=scene.target, radius=scene.orbit_radius,
                        eye_height=scene.eye_height)  # fmt: skip
    yy, xx = np.mgrid[:height, :width]
    plates, prompts = [], []
    for i, (rgb, _) in enumerate(render_frames(scene, poses, k, supersample=1)):
        disc = (xx - (60 + 8 * i)) ** 2 + (yy - 90) ** 2 <= 25**2
        rgb[disc] = (230, 40, 40)
        plates.append(rgb)
        if i % 4 == 0:
            (tmp_path / f"disc.{1001 + i}.png").write_bytes(encode_png(disc.astype(np.uint8) * 255))
            prompts.append({"label": "disc", "frame": 1001 + i, "mask": f"disc.{1001 + i}.png"})
    clip = encode_mp4(plates, tmp_path / "orbit.mp4", crf=12, preset="ultrafast")
    (tmp_path / "prompts.json").write_text(
        json.dumps({"objects": [{"label": "disc"}], "prompts": prompts})
    )
    shot = tmp_path / "shot"
    result = cli("run", clip, "--shot", shot, "--stages", "roto,camera",
                 "--prompts", tmp_path / "prompts.json", "--roto-grow", "3",
                 "--focal-mm", "28", "--sensor-mm", "36")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    manifest = Manifest.model_validate_json((shot / "shot.json").read_text())
    roto, camera = manifest.stages["roto"], manifest.stages["camera"]
    assert camera.status == "done" and camera.inputs["roto"] == roto.output_digest
    transforms = json.loads((shot / "camera" / "transforms.json").read_text())
    assert len(transforms["frames"]) >= frames - 2  # interpolated cameras are left out
    masked = []
    for frame in transforms["frames"]:
        number = int(Path(frame["file_path"]).stem.split(".")[-1])
        roto_mask = decode_png((shot / "roto" / "disc" / f"roto.{number}.png").read_bytes()) > 0
        static = decode_png((shot / "camera" / frame["mask_path"]).read_bytes()) > 0
        assert np.array_equal(static, ~roto_mask)  # features only where no roto mask is
        if (number - 1001) % 4 == 0:
            disc = (xx - (60 + 8 * (number - 1001))) ** 2 + (yy - 90) ** 2 <= 25**2
            masked.append(np.count_nonzero(roto_mask & disc) / np.count_nonzero(disc))
    assert masked and min(masked) > 0.95  # the seeded frames mask the whole disc


def test_text_chunks_run_and_stitch_through_the_stage(tmp_path) -> None:
    """Two frame-range chunk jobs of a text-prompt pass (as fan-out runs them), then the
    stage's stitch: one pass over every plate frame with contiguous instance names."""
    from depth_helpers import write_plate
    from roto_helpers import tiny_sam3_files, write_files
    from vfx_ingest.stages import get_stage
    from vfx_ingest.stages.base import StageContext
    from vfx_ingest.stages.roto import RotoParams

    numbers = list(range(1001, 1001 + 14))
    write_plate(tmp_path, disc_frames(len(numbers), WIDTH, HEIGHT), numbers)
    models = {"sam3": write_files(tmp_path / "sam3", tiny_sam3_files())}
    spec = get_stage("roto")
    params = RotoParams(prompt="person", model="sam3", detection=0.15)

    def context(name: str, frame_range: tuple[int, int] | None = None) -> StageContext:
        return StageContext(
            stage="roto",
            shot_root=tmp_path,
            staging=tmp_path / ".staging" / name,
            frame_range=frame_range,
            models=models,
        )

    chunks = [context("a", (1001, 1009)), context("b", (1006, 1014))]
    for chunk in chunks:
        spec.run(chunk, params)
    whole = context("whole")
    spec.stitch(whole, [c.staging for c in chunks])
    document = json.loads((whole.staging / "roto" / "objects.json").read_text())
    assert document["frames"]["numbers"] == numbers
    assert document["chunks"] == [[1001, 1009], [1006, 1014]]
    labels = [o["label"] for o in document["objects"]]
    assert labels == [f"person_{k:02d}" for k in range(1, len(labels) + 1)] and labels
    for label in labels:
        assert len(masks_of(whole.staging, label)) == len(numbers)
    assert set(whole.written) >= {"roto/objects.json", "roto/prompts.json"}
