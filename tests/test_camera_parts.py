"""The camera solve's parts on their own: keyframes, loop candidates, interpolation,
orientation and scale, axis conventions, the cameras.json schema, masks, and the stage
contract's optional inputs."""

from __future__ import annotations

import json

import numpy as np
import pycolmap
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfx_ingest.camera import axes, interpolate, keyframes, loops, orient
from vfx_ingest.camera.cameras_json import SCHEMA, CamerasDoc
from vfx_ingest.camera.presets import PRESETS
from vfx_ingest.camera.scale import parse_scale

from support.synthetic import GroundTruth, camera_path

# ------------------------------------------------------------------------------------------
# Keyframes


def tracked(n_frames: int, motion: np.ndarray, n_points: int = 200, seed: int = 0):
    """Keypoints of points seen in every frame (feature i is point i) and identity links.
    ``motion[f]`` (n_points, 2) is each point's shift in frame f."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(50, 590, (n_points, 2))
    points = [base + motion[f] for f in range(n_frames)]
    identity = np.stack([np.arange(n_points)] * 2, axis=1)
    return points, [identity] * (n_frames - 1)


def test_a_pan_makes_no_keyframes_but_parallax_does():
    preset = PRESETS["balanced"]
    n = 60
    gap = min(preset.max_gap, (n - 1) // (keyframes.MIN_COUNT - 1))  # 8: at least 8 keyframes
    rng = np.random.default_rng(1)
    depth_factor = rng.uniform(0.5, 2.0, 200)[:, None]
    # A pan: every point moves the same (a homography explains it all): only the gap rule.
    pan = np.array([np.full((200, 2), [1.0 * f, 0.0]) for f in range(n)])
    points, links = tracked(n, pan)
    assert keyframes.choose(points, links, 640, preset) == [*range(0, n - 1, gap), n - 1]
    # A translation: near points move more than far ones (parallax): keyframes come sooner.
    slide = np.array([depth_factor * [12.0 * f, 0.0] for f in range(n)])
    points, links = tracked(n, slide)
    chosen = keyframes.choose(points, links, 640, preset)
    assert chosen[0] == 0 and chosen[-1] == n - 1
    assert np.diff(chosen)[:-1].max() < gap


def test_keyframes_follow_the_tracks_and_the_gap_limit():
    preset = PRESETS["balanced"]
    n = 40
    still = np.zeros((n, 200, 2))
    points, links = tracked(n, still)
    chosen = keyframes.choose(points, links, 640, preset)
    assert np.diff(chosen).max() <= preset.max_gap and chosen[-1] == n - 1
    # Tracks lost after frame 5: the next frame must become a keyframe.
    links = [link if i != 5 else link[:4] for i, link in enumerate(links)]
    assert 6 in keyframes.choose(points, links, 640, preset)


# ------------------------------------------------------------------------------------------
# Loop candidates


def test_loop_candidates_pair_keyframes_that_see_the_same_place():
    rng = np.random.default_rng(0)
    places = [rng.normal(0, 1, (40, 128)) for _ in range(6)]  # six distinct looks

    def view(place: int) -> np.ndarray:
        centres = places[place][rng.integers(0, 40, 300)]
        return np.abs(centres + rng.normal(0, 0.05, centres.shape)) * 100

    # Keyframes 0..9 walk through places 0-4 and back; keyframe 9 sees place 0 again.
    route = [0, 1, 1, 2, 3, 4, 4, 3, 5, 0]
    descriptors = {i * 10: view(place) for i, place in enumerate(route)}
    pairs = loops.candidates(descriptors, overlap=3, per_keyframe=1)
    assert (0, 90) in pairs
    assert all(abs(a - b) > 30 for a, b in pairs)
    assert loops.candidates(descriptors, overlap=3, per_keyframe=0) == []


# ------------------------------------------------------------------------------------------
# Interpolation


def test_unsolved_frames_are_interpolated_and_flagged():
    poses = camera_path("orbit", 9, 24, seed=2)
    holes = [None if i in (0, 3, 4, 8) else poses[i] for i in range(9)]
    filled, solved = interpolate.fill(holes)
    assert solved == [i not in (0, 3, 4, 8) for i in range(9)]
    np.testing.assert_array_equal(filled[0], poses[1])  # held before the first solved
    np.testing.assert_array_equal(filled[8], poses[7])  # and after the last
    # Between solved frames: centre on the straight line, rotation on the geodesic.
    for i, t in ((3, 1 / 3), (4, 2 / 3)):
        centre = (1 - t) * poses[2][:3, 3] + t * poses[5][:3, 3]
        np.testing.assert_allclose(filled[i][:3, 3], centre, atol=1e-12)
        r = filled[i][:3, :3]
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
        angle_a = _angle(poses[2][:3, :3], r)
        angle_b = _angle(r, poses[5][:3, :3])
        assert angle_a == pytest.approx(t * _angle(poses[2][:3, :3], poses[5][:3, :3]), abs=1e-6)
        assert angle_a + angle_b == pytest.approx(_angle(poses[2][:3, :3], poses[5][:3, :3]))
    with pytest.raises(ValueError, match="no solved frame"):
        interpolate.fill([None, None])


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))


# ------------------------------------------------------------------------------------------
# Orientation and scale


def scene(seed: int = 0):
    """Truth cameras (a handheld walk, y up, ground y = 0) and points: ground and walls."""
    rng = np.random.default_rng(seed)
    c2w = camera_path("handheld", 30, 24, seed=seed)
    ground = np.c_[rng.uniform(-4, 4, 600), rng.normal(0, 0.002, 600), rng.uniform(-4, 4, 600)]
    wall = np.c_[rng.uniform(-4, 4, 400), rng.uniform(0, 3, 400), np.full(400, -4.0)]
    return c2w, np.concatenate([ground, wall])


def solver_world(c2w: np.ndarray, points: np.ndarray, seed: int = 3):
    """The same scene in an arbitrary solver world: rotated, moved, scaled."""
    rng = np.random.default_rng(seed)
    sim = pycolmap.Sim3d(0.37, pycolmap.Rotation3d(rng.normal(size=3)), rng.normal(size=3))
    m = sim.matrix()
    moved = c2w.copy()
    moved[:, :3, :3] = m[:3, :3] @ c2w[:, :3, :3] / sim.scale
    moved[:, :3, 3] = c2w[:, :3, 3] @ m[:3, :3].T + m[:3, 3]
    return moved, points @ m[:3, :3].T + m[:3, 3]


def apply(found: orient.Orientation, c2w: np.ndarray, points: np.ndarray):
    m = found.new_from_old.matrix()
    out = c2w.copy()
    out[:, :3, :3] = m[:3, :3] @ c2w[:, :3, :3] / found.new_from_old.scale
    out[:, :3, 3] = c2w[:, :3, 3] @ m[:3, :3].T + m[:3, 3]
    return out, points @ m[:3, :3].T + m[:3, 3]


def test_auto_up_finds_the_ground_and_height_scale_gives_metres():
    truth, points = scene()
    frames = list(range(1001, 1031))
    c2w, pts = solver_world(truth, points)
    found = orient.orient(c2w, frames, pts, "auto", parse_scale("height=1.65"))
    assert found.up.startswith("ground plane") and found.metric
    cams, moved = apply(found, c2w, pts)
    ground = moved[:600]
    assert np.abs(ground[:, 1]).max() < 0.02  # the ground is y = 0
    assert cams[0, 1, 3] == pytest.approx(1.65)  # first camera 1.65 m up
    assert cams[0, 0, 3] == pytest.approx(0.0, abs=1e-9)
    assert cams[0, 2, 3] == pytest.approx(0.0, abs=1e-9)
    forward = cams[0, :3, 2]
    assert forward[2] < 0 and abs(forward[0]) < 1e-9  # looking towards -Z
    # Distances are the truth's metres up to the 1.65 m the truth's camera really has.
    ratio = truth[0, 1, 3] / 1.65
    travel = np.linalg.norm(cams[-1, :3, 3] - cams[0, :3, 3]) * ratio
    assert travel == pytest.approx(np.linalg.norm(truth[-1, :3, 3] - truth[0, :3, 3]), rel=5e-3)


def test_up_y_uses_the_camera_up_and_distance_scale():
    truth, points = scene(1)
    frames = list(range(1001, 1031))
    c2w, pts = solver_world(truth, points, seed=5)
    found = orient.orient(c2w, frames, pts, "y", parse_scale("1001:1030=2.5"))
    assert found.up == "mean camera up"
    cams, _ = apply(found, c2w, pts)
    assert np.linalg.norm(cams[-1, :3, 3] - cams[0, :3, 3]) == pytest.approx(2.5)
    mean_up = -cams[:, :3, 1].mean(axis=0)
    assert np.degrees(np.arccos(mean_up[1] / np.linalg.norm(mean_up))) < 1e-6


def test_scale_errors_are_bad_input():
    truth, points = scene()
    from vfx_ingest.errors import BadInput

    with pytest.raises(BadInput, match="no solved camera"):
        orient.orient(truth, list(range(1001, 1031)), points, "auto", parse_scale("1001:2000=1"))
    with pytest.raises(BadInput, match="ground plane"):
        orient.orient(truth, list(range(1001, 1031)), points[600:], "auto", parse_scale("height=1"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("height=1.65", "camera height 1.65 m"), ("1001:1096=3.2", "3.2 m between"),
     (" height = 2 ", "camera height 2 m"), ("height=0", "positive distance"),
     ("tall", "cannot read"), ("1001-1096=3", "cannot read"), ("1001:1001=3", "same frame")],
)  # fmt: skip
def test_scale_forms(text, expected):
    if " m" in expected:  # accepted, and read as meant
        assert expected in parse_scale(text).describe()
    else:
        with pytest.raises(ValueError, match=expected):
            parse_scale(text)


# ------------------------------------------------------------------------------------------
# Axis conventions


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-89.9, 89.9), st.floats(-179.9, 179.9), st.floats(-179.9, 179.9)
)  # fmt: skip
def test_zxy_angles_rebuild_their_rotation(rx, ry, rz):
    r = axes.rotation_zxy(rx, ry, rz)
    (back,) = axes.euler_zxy(r[None])
    np.testing.assert_allclose(axes.rotation_zxy(*back), r, atol=1e-9)
    # Nuke's ZXY: Z first, then X, then Y, i.e. R = Ry Rx Rz.
    np.testing.assert_allclose(
        r,
        axes.rotation_zxy(0, ry, 0) @ axes.rotation_zxy(rx, 0, 0) @ axes.rotation_zxy(0, 0, rz),
        atol=1e-12,
    )


def test_euler_curves_do_not_wrap():
    r = np.stack([axes.rotation_zxy(5.0, a, -3.0) for a in np.linspace(0, 720, 97)])
    angles = axes.euler_zxy(r)
    assert np.abs(np.diff(angles, axis=0)).max() < 10 and angles[-1, 1] == pytest.approx(720)


# ------------------------------------------------------------------------------------------
# cameras.json


def test_cameras_json_round_trips_and_refuses_bad_documents(tmp_path):
    gt = GroundTruth(intrinsics=_intrinsics(), fps=23.976, c2w=camera_path("dolly", 4, 24))
    doc = gt.to_doc()
    text = doc.to_json()
    again = CamerasDoc.from_dict(json.loads(text))
    assert again == doc and again.to_json() == text
    np.testing.assert_array_equal(again.c2w(), gt.c2w)
    data = json.loads(text)
    assert data["schema"] == SCHEMA and "solve" not in data
    assert "reprojection_error" not in data["frames"][0]
    for bad, message in (
        ({**data, "schema": "other/1"}, "schema"),
        ({**data, "convention": "opengl"}, "convention"),
        ({**data, "frames": data["frames"][::2]}, "consecutive"),
        ({**data, "frames": [{**data["frames"][0], "c2w": [[1, 0], [0, 1]]}]}, "4x4"),
        ({**data, "extra": 1}, "extra"),
    ):
        with pytest.raises(ValueError, match=message):
            CamerasDoc.from_dict(bad)


def _intrinsics():
    from support.synthetic import Intrinsics

    return Intrinsics.from_focal(320, 180, 28.0)


# ------------------------------------------------------------------------------------------
# Masks keep features off moving objects


def test_roto_masks_keep_sift_off_the_masked_region(tmp_path):
    from vfx_ingest.camera import features, inputs
    from vfx_ingest.io.images import encode_png

    from support.synthetic import clip_scene, render_frames

    k = _intrinsics()
    poses = camera_path("orbit", 2, 24)
    images = tmp_path / "plate"
    images.mkdir()
    names = []
    for i, (rgb, _) in enumerate(render_frames(clip_scene(k), poses, k, supersample=1)):
        names.append(f"plate.{1001 + i}.png")
        (images / names[-1]).write_bytes(encode_png(rgb))
    roto = tmp_path / "roto" / "actor"
    roto.mkdir(parents=True)
    mask = np.zeros((k.height, k.width), np.uint8)
    mask[:, : k.width // 2] = 255  # the "actor" covers the left half
    for frame in (1001, 1002):
        (roto / f"roto.{frame}.png").write_bytes(encode_png(mask))
    labels = inputs.roto_labels(tmp_path / "roto")
    masks = inputs.mask_folder(labels, [1001, 1002], names, (k.width, k.height), tmp_path / "w")
    database = tmp_path / "db.db"
    camera = features.create_camera(database, "SIMPLE_RADIAL", k.width, k.height, None)
    features.extract(database, images, names, camera, PRESETS["fast"], mask_dir=masks)
    db = pycolmap.Database.open(database)
    try:
        for image in db.read_all_images():
            xy = db.read_keypoints(image.image_id)[:, :2]
            assert len(xy) > 50 and xy[:, 0].min() >= k.width // 2 - 1
    finally:
        db.close()


# ------------------------------------------------------------------------------------------
# Optional stage inputs (``uses``)


def test_optional_inputs_join_the_key_when_present_and_order_the_run(monkeypatch):
    from vfx_ingest import cache, stages
    from vfx_ingest.manifest import Manifest, StageRecord
    from vfx_ingest.stages.base import StageParams, StageResult, StageSpec

    roto = StageSpec(
        name="roto",
        version="1",
        summary="test double of a roto stage",
        needs=("plate",),
        produces=("roto",),
        params=StageParams,
        run=lambda ctx, params: StageResult(),
    )
    monkeypatch.setitem(stages.REGISTRY, "roto", roto)
    camera = stages.get_stage("camera")
    assert [s.name for s in stages.with_dependencies(["camera"])] == ["ingest", "camera"]
    assert [s.name for s in stages.with_dependencies(["camera", "roto"])] == [
        "ingest",
        "roto",
        "camera",
    ]

    def record(name: str, digest: str) -> StageRecord:
        return StageRecord(
            stage=name, version="1", status="done", params={}, cache_key="k",
            inputs={}, output_digest=digest,
        )  # fmt: skip

    manifest = Manifest(tool_version="test", stages={"ingest": record("ingest", "p1")})
    assert cache.input_digests(camera, manifest) == {"plate": "p1"}
    manifest.stages["roto"] = record("roto", "r1")
    assert cache.input_digests(camera, manifest) == {"plate": "p1", "roto": "r1"}
    manifest.stages["roto"].status = "failed"
    assert cache.input_digests(camera, manifest) == {"plate": "p1"}


# ------------------------------------------------------------------------------------------
# The camera guide's quality table is the presets'


def test_the_guide_quality_table_matches_the_presets():
    from conftest import REPO

    text = (REPO / "docs" / "camera.md").read_text()
    rows = {
        cells[0].strip("` "): [c.strip() for c in cells[1:]]
        for line in text.splitlines()
        if line.startswith("| `")
        and (cells := line.strip("|").split("|"))[0].strip("` ") in PRESETS
    }
    assert set(rows) == set(PRESETS)
    for name, p in PRESETS.items():
        expected = [
            str(p.max_features), str(p.first_octave), f"{p.parallax:.1%}",
            f"{p.min_tracked:.0%}", str(p.max_gap), str(p.overlap), str(p.loops),
            str(p.anchors), str(p.ba_iterations),
        ]  # fmt: skip
        assert rows[name] == expected, name


# ------------------------------------------------------------------------------------------
# Warnings a matchmover should see


def test_a_camera_that_never_turns_is_warned_about_its_focal_length():
    from vfx_ingest.camera.solve import Solved, rotation_range
    from vfx_ingest.stages.camera import CameraParams
    from vfx_ingest.stages.camera_solve import warnings

    def model(kind: str) -> pycolmap.Reconstruction:
        out = pycolmap.Reconstruction()
        out.add_camera_with_trivial_rig(
            pycolmap.Camera.create_from_model_name(1, "SIMPLE_RADIAL", 300.0, 320, 180)
        )
        for i, c2w in enumerate(camera_path(kind, 24, 24, seed=1)):
            r = c2w[:3, :3].T
            out.add_image_with_trivial_frame(
                pycolmap.Image(name=f"plate.{1001 + i}.png", camera_id=1, image_id=i + 1),
                pycolmap.Rigid3d(pycolmap.Rotation3d(r), -r @ c2w[:3, 3]),
            )
        return out

    dolly, orbit = model("dolly"), model("orbit")
    assert rotation_range(dolly) < 1e-6 and rotation_range(orbit) > 3.9  # an 8-degree arc
    solved = Solved(reconstruction=dolly, keyframes=[], orientation=None, matched_pairs=0)
    found = warnings(solved, CameraParams(), [1005, 1006, 1010])
    assert "focal length" in found[0] and "--focal-mm" in found[0]
    assert found[1].startswith("3 frames (1005-1006,1010)")
    assert warnings(solved, CameraParams(focal_mm=35), []) == []


# ------------------------------------------------------------------------------------------
# What pycolmap reads: 8-bit images, whatever the plate is


def test_exr_and_16bit_plates_are_given_to_colmap_as_8bit_png(tmp_path):
    from vfx_ingest.camera import inputs
    from vfx_ingest.io.images import decode_png, encode_png, write_exr

    plate = tmp_path / "plate"
    plate.mkdir()
    ramp = np.linspace(0.0, 1.0, 64, dtype=np.float32)[None, :, None].repeat(8, 0).repeat(3, 2)
    write_exr(plate / "plate.1001.exr", {"RGB": ramp.astype(np.float16)})
    folder, names = inputs.image_folder([plate / "plate.1001.exr"], tmp_path / "work")
    assert names == ["plate.1001.png"] and folder == tmp_path / "work" / "images"
    image = decode_png((folder / names[0]).read_bytes())
    assert image.dtype == np.uint8 and image[0, 0, 0] == 0 and image[0, -1, 0] == 255
    assert image[0, 16, 0] > 16 / 63 * 255  # a display curve, not linear code values
    deep = (ramp * 65535).astype(np.uint16)
    (plate / "plate.1002.png").write_bytes(encode_png(deep))
    folder, names = inputs.image_folder([plate / "plate.1002.png"], tmp_path / "w2")
    assert decode_png((folder / names[0]).read_bytes()).dtype == np.uint8
    eight = (ramp * 255).astype(np.uint8)
    (plate / "plate.1003.png").write_bytes(encode_png(eight))
    assert inputs.image_folder([plate / "plate.1003.png"], tmp_path / "w3") == (
        plate,
        ["plate.1003.png"],
    )


def test_transforms_json_gets_depth_paths_only_for_metric_depth(tmp_path):
    """nerfstudio reads depth_file_path as depth: a relative model's disparity must not be
    listed there, a metric model's depth must."""
    import numpy as np

    from vfx_ingest.depth.exr import VALUES_ATTR
    from vfx_ingest.io.images import write_exr
    from vfx_ingest.stages.camera_solve import _holds_metric_depth

    files = [tmp_path / f"depth.{n}.exr" for n in (1001, 1002)]
    for values in ("relative_disparity", "metric_depth_m"):
        for path in files:
            write_exr(path, {"Z": np.ones((4, 6), np.float32)}, attributes={VALUES_ATTR: values})
        assert _holds_metric_depth(files) is (values == "metric_depth_m")
    files[1].unlink()
    assert not _holds_metric_depth(files)
