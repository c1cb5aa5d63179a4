"""The camera stage end to end: a synthetic orbit with known cameras, solved through
`vfx-ingest run CLIP --stages ingest,camera` (the session's `solved_shot`), checked against
its ground truth; and the shots it must refuse with a clear "could not solve"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vfx_ingest.camera.accuracy import accuracy, align
from vfx_ingest.camera.cameras_json import CamerasDoc
from vfx_ingest.manifest import Manifest


def test_every_frame_gets_a_solved_camera_within_the_accuracy_bound(solved_shot):
    result = solved_shot.result
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "ok"
    doc = CamerasDoc.load(solved_shot.camera / "cameras.json")
    assert doc.frame_numbers() == list(range(1001, 1001 + solved_shot.FRAMES))
    assert doc.solve is not None
    # Every frame has a camera: the blank one interpolated and flagged, the others solved.
    blank = solved_shot.BLANK
    assert doc.solve.registered == solved_shot.FRAMES - 1 and doc.solve.interpolated == [blank]
    for f in doc.frames:
        assert f.solved == (f.frame != blank)
        assert (f.reprojection_error is None) == (f.frame == blank)
        assert f.reprojection_error is None or f.reprojection_error < 1.0
    found = accuracy(doc.c2w(), solved_shot.truth.c2w)
    assert found.ate_percent <= 1.0, found
    assert found.rotation_mean_deg < 1.0, found
    # The interpolated camera is where the truth is, within the solve's own accuracy.
    sim = align(doc.c2w(), solved_shot.truth.c2w).matrix()
    centre = sim[:3, :3] @ doc.c2w()[blank - 1001, :3, 3] + sim[:3, 3]
    assert np.linalg.norm(centre - solved_shot.truth.c2w[blank - 1001, :3, 3]) < 3 * found.ate_rmse
    # The lens was given (28 mm on a 36 mm back) and held: the pixel focal lengths and the
    # film back's height are the renderer's, which the solve derives on its own.
    truth = solved_shot.truth.intrinsics
    assert doc.solve.focal == "fixed"
    assert (doc.intrinsics.fx, doc.intrinsics.fy) == pytest.approx((truth.fx, truth.fy))
    assert doc.intrinsics.sensor_height_mm == pytest.approx(truth.sensor_height_mm)


def test_the_world_is_y_up_from_the_ground_plane(solved_shot):
    doc = CamerasDoc.load(solved_shot.camera / "cameras.json")
    assert doc.world.up == [0, 1, 0] and doc.world.units == "solver units"
    assert doc.solve is not None and doc.solve.up.startswith("ground plane")
    # The truth's up is +Y too: after aligning the worlds, our +Y must land on theirs.
    # The same clip solved again lands elsewhere (the solver's threads change its sparse
    # points, and the ground plane with them): benchmarks/up_axis.py measured 0.1-2.2
    # degrees over 8 scenes and 5 re-solves of this one, and a loaded CI run gave 4.8
    # once; 6 degrees keeps that spread and stays well under the 10 degrees by which the
    # cameras' own mean up misses (what the solve would give without the ground plane).
    sim = align(doc.c2w(), solved_shot.truth.c2w)
    up = sim.rotation.matrix() @ np.array([0.0, 1.0, 0.0])
    assert np.degrees(np.arccos(up[1])) < 6.0
    camera_up = -solved_shot.truth.c2w[:, :3, 1].mean(axis=0)
    assert np.degrees(np.arccos(camera_up[1] / np.linalg.norm(camera_up))) > 9.0
    # The origin is on the ground below the first camera: its height is its y.
    first = doc.c2w()[0, :3, 3]
    assert abs(first[0]) < 1e-9 and abs(first[2]) < 1e-9 and first[1] > 0


def test_the_record_holds_the_solve_stats_and_a_rerun_is_cached(solved_shot, cli):
    manifest = Manifest.model_validate_json((solved_shot.shot / "shot.json").read_text())
    record = manifest.stages["camera"]
    assert record.status == "done" and record.stats["registered"] == solved_shot.FRAMES - 1
    assert record.frames == "1001-1020"
    assert record.stats["sensor"] == "--sensor-mm 36"
    assert record.stats["warnings"] == [
        "1 frame (1010) could not be registered; cameras interpolated from the solved neighbours"
    ]
    assert "camera/sparse/cameras.bin" in record.outputs
    again = cli("run", solved_shot.clip, *solved_shot.options)
    assert again.exit_code == 0 and "camera: cached" in again.stderr


def test_a_tripod_shot_cannot_be_solved_and_the_plate_stays(tmp_path, cli):
    from support.synthetic import render_clip

    truth = render_clip(tmp_path / "tripod.mp4", path="static", frames=10, width=192, height=108)
    assert np.ptp(truth.c2w, axis=0).max() == 0  # the premise: the camera never moves
    shot = tmp_path / "shot"
    result = cli("run", tmp_path / "tripod.mp4", "--shot", shot, "--stages", "ingest,camera")
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "could not solve the camera" in line and "keyframes" in line and "matches" in line
    assert len(list((shot / "plate").glob("plate.*.png"))) == 10
    assert not (shot / "camera").exists()
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["camera"]
    assert record.status == "failed" and "could not solve" in (record.error or "")


def test_a_textureless_clip_cannot_be_solved(tmp_path, cli, clips):
    flat = clips("flat.mp4", frames=12, width=160, height=96)
    result = cli("run", flat, "--shot", tmp_path / "shot", "--stages", "ingest,camera")
    assert result.exit_code == 1
    assert "too little texture" in result.stderr and "features per frame" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--scale", "tall", "cannot read --scale"),
        ("--scale", "1001:1001=2", "same frame"),
        ("--refine-focal", None, "needs --focal-mm"),
        ("--up", "x", "--up"),
    ],
)
def test_bad_camera_options_fail_before_any_work(tmp_path, cli, clips, option, value, message):
    args = [option] if value is None else [option, value]
    result = cli("run", clips(frames=4), "--shot", tmp_path / "s", "--stages", "camera", *args)
    assert result.exit_code == 2 and message in result.stderr.replace("\n", " ")
    assert not (tmp_path / "s").exists()
