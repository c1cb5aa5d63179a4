"""Synthetic renderer: geometry/camera conventions, ground-truth JSON, encoding, paths."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace

from support.synthetic import (
    FIRST_FRAME,
    PATH_KINDS,
    SCHEMA,
    GroundTruth,
    Intrinsics,
    build_courtyard,
    camera_path,
    clip_scene,
    encode_mp4,
    render_clip,
    render_frames,
)
from support.synthetic.scene import HALF

W, H, N, FPS = 320, 180, 20, 24


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path, GroundTruth]:
    """The CI-sized clip: 320x180, 20 frames, orbit, with depth and camera JSON."""
    out = tmp_path_factory.mktemp("synthetic")
    mp4, cam = out / "orbit.mp4", out / "orbit.camera.json"
    gt = render_clip(
        mp4, path="orbit", frames=N, width=W, height=H, fps=FPS, camera_json=cam, keep_depth=True
    )
    return mp4, cam, gt


def _pixel_rays(k: Intrinsics) -> np.ndarray:
    # Camera-space rays (H, W, 3) with z = 1 through pixel centres (u + 0.5, v + 0.5).
    u, v = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5)
    return np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1)


def _plane_depth(rays: np.ndarray, c2w: np.ndarray, point: np.ndarray, normal: np.ndarray):
    # Camera-space z where each ray meets the world plane through `point` with `normal`.
    d_world = rays @ c2w[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((point - c2w[:3, 3]) @ normal) / (d_world @ normal)


# --------------------------------------------------------------------------------------------
# Camera convention: the JSON cameras reproduce the rendered geometry exactly.


def test_ground_depth_matches_rays_through_pixel_centres(clip):
    _, cam, gt_mem = clip
    gt = GroundTruth.load(cam)
    k = gt.intrinsics
    for i in (0, N - 1):
        depth = gt_mem.depth[i]
        expected = _plane_depth(_pixel_rays(k), gt.c2w[i], np.zeros(3), np.array([0.0, 1.0, 0]))
        below = expected > 0  # rays that reach the ground in front of the camera
        rel = np.abs(depth - expected) / expected
        on_ground = below & (rel < 1e-4)
        # Ground is visible over much of the lower frame, and nothing renders beneath it.
        assert on_ground.sum() > 0.2 * below.sum()
        assert np.all(depth[below] <= expected[below] * (1 + 1e-4))
        # A half-pixel error in the convention would show: the same pixels no longer match.
        shifted = _plane_depth(
            _pixel_rays(k) - [0.5 / k.fx, 0.5 / k.fy, 0],
            gt.c2w[i],
            np.zeros(3),
            np.array([0, 1.0, 0]),
        )
        assert np.median(np.abs(depth - shifted)[on_ground] / shifted[on_ground]) > 1e-3


def test_box_face_points_project_onto_their_rendered_depth(clip):
    _, cam, gt_mem = clip
    gt = GroundTruth.load(cam)
    k = gt.intrinsics
    scene = clip_scene(k)
    rays = _pixel_rays(k)
    checked = 0
    for i in (0, N // 2, N - 1):
        c2w, depth = gt.c2w[i], gt_mem.depth[i]
        centre = c2w[:3, 3]
        for box in scene.boxes:
            for _, quad in box.faces():
                # Points 10 cm in from each corner, plus the face centre.
                a = np.array([0.1, quad.width - 0.1, quad.width - 0.1, 0.1, quad.width / 2])
                b = np.array([0.1, 0.1, quad.height - 0.1, quad.height - 0.1, quad.height / 2])
                points = quad.point(a, b)
                uv, z = k.project(points, c2w)
                for p, (u, v), zp in zip(points, uv, z, strict=True):
                    view = (centre - p) / np.linalg.norm(centre - p)
                    cos = view @ quad.normal
                    if zp <= 0.1 or cos < 0.25 or not (0 <= u < k.width and 0 <= v < k.height):
                        continue  # behind, back-facing, grazing or off-screen
                    px, py = int(u), int(v)
                    # Where the ray through that pixel's centre meets this face's plane.
                    exact = _plane_depth(rays[py, px], c2w, quad.origin, quad.normal)
                    assert abs(exact - zp) < 0.05 * zp  # within a pixel of the projected point
                    hit = centre + exact * (c2w[:3, :3] @ rays[py, px]) - quad.origin
                    fa, fb = hit @ quad.u_hat, hit @ quad.v_hat
                    margin = 2.0 * exact / k.fx / cos  # two pixels, in metres on the face
                    if not (
                        margin < fa < quad.width - margin and margin < fb < quad.height - margin
                    ):
                        continue  # the pixel is not wholly on this face
                    # Something nearer may hide the face, but nothing can render behind it...
                    assert depth[py, px] <= exact * (1 + 1e-4)
                    # ...and where it is not hidden, the depth is that of the face, exactly.
                    if depth[py, px] >= exact * (1 - 1e-4):
                        checked += 1
    assert checked >= 15  # plenty of unoccluded box points land exactly on their face


# --------------------------------------------------------------------------------------------
# Ground-truth JSON


def test_camera_json_schema_and_round_trip(clip, tmp_path):
    _, cam, gt = clip
    doc = json.loads(cam.read_text())
    assert doc["schema"] == SCHEMA == "vfx-ingest.cameras/1"
    assert doc["convention"] == "opencv"
    assert doc["world"] == {"up": [0, 1, 0], "units": "meters", "note": "ground plane y=0"}
    assert doc["image"] == {"width": W, "height": H}
    assert doc["fps"] == FPS
    intr = doc["intrinsics"]
    assert intr["model"] == "PINHOLE" and intr["distortion"] == []
    assert intr["cx"] == W / 2 and intr["cy"] == H / 2
    assert intr["fx"] == pytest.approx(intr["focal_mm"] / intr["sensor_width_mm"] * W)
    assert intr["sensor_height_mm"] == pytest.approx(intr["sensor_width_mm"] * H / W)
    frames = [f["frame"] for f in doc["frames"]]
    assert frames == list(range(FIRST_FRAME, FIRST_FRAME + N)) and frames[0] == 1001
    assert all(f["solved"] is True for f in doc["frames"])

    loaded = GroundTruth.load(cam)
    np.testing.assert_array_equal(loaded.c2w, gt.c2w)  # exact: floats survive JSON
    assert loaded.intrinsics == gt.intrinsics
    assert loaded.save(tmp_path / "again.json").read_text() == cam.read_text()

    for m in loaded.c2w:
        r = m[:3, :3]
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_array_equal(m[3], [0, 0, 0, 1])


def test_camera_json_rejects_other_schemas(clip, tmp_path):
    _, cam, _ = clip
    doc = json.loads(cam.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "schema": "something/0"}))
    with pytest.raises(ValueError, match="schema"):
        GroundTruth.load(bad)


# --------------------------------------------------------------------------------------------
# Encoding


def test_clip_decodes_with_right_count_size_rate_and_tags(clip):
    mp4, _, gt = clip
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == Fraction(FPS)
        cc = stream.codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (1, 1, 1)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == N == len(gt.c2w)
    assert frames[0].shape == (H, W, 3)
    assert gt.depth.shape == (N, H, W)


def test_encoder_converts_with_the_bt709_matrix_it_tags(tmp_path):
    colours = np.array(
        [[220, 30, 30], [30, 200, 40], [40, 50, 220], [230, 220, 40], [128, 128, 128]], np.uint8
    )
    image = np.ascontiguousarray(np.repeat(np.repeat(colours[None], 64, 0), 32, 1))
    mp4 = encode_mp4(
        [image] * 3, tmp_path / "bars.mp4", fps=25, crf=4, rotation=90, timecode="01:00:00:00"
    )
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert stream.metadata.get("timecode") == "01:00:00:00"
        frame = next(container.decode(stream))
        assert frame.rotation == 90

        def decoded(matrix: Colorspace) -> np.ndarray:
            rgb = frame.reformat(
                format="rgb24", src_colorspace=matrix, src_color_range=ColorRange.MPEG
            )
            return rgb.to_ndarray()[8:-8, 4:-4].astype(int)

        err709 = np.abs(decoded(Colorspace.ITU709) - image[8:-8, 4:-4]).mean()
        err601 = np.abs(decoded(Colorspace.ITU601) - image[8:-8, 4:-4]).mean()
    assert err709 < 2.0 < err601


# --------------------------------------------------------------------------------------------
# Paths


@pytest.mark.parametrize("kind", PATH_KINDS)
def test_paths_translate_except_static_and_stay_in_the_open(kind):
    for seed in range(4):
        poses = camera_path(kind, N, FPS, seed=seed)
        centres = poses[:, :3, 3]
        travel = np.linalg.norm(centres - centres[0], axis=1).max()
        if kind == "static":
            assert travel == 0.0
            np.testing.assert_array_equal(poses, poses[:1].repeat(N, 0))
        else:
            assert travel > 0.4  # metres: real parallax even in a 20-frame clip
        for m in poses:
            np.testing.assert_allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-9)
            assert np.linalg.det(m[:3, :3]) == pytest.approx(1.0)
    # Long takes too: the camera never enters a prop or leaves the courtyard.
    scene = clip_scene(Intrinsics.from_focal(W, H, 28.0))
    for seed in range(4):
        poses = camera_path(
            kind, 240, FPS, target=scene.target, radius=scene.orbit_radius,
            eye_height=scene.eye_height, seed=seed,
        )  # fmt: skip
        centres = poses[:, :3, 3]
        assert np.abs(centres[:, [0, 2]]).max() < HALF - 1.0
        for box in scene.boxes:
            assert box.footprint_distance(centres[:, [0, 2]]).min() > 0.3


def test_cameras_look_towards_the_set():
    for kind in ("orbit", "handheld", "static"):
        poses = camera_path(kind, 48, FPS, seed=1, target=(0.0, 0.8, 0.0))
        to_target = np.array([0.0, 0.8, 0.0]) - poses[:, :3, 3]
        to_target /= np.linalg.norm(to_target, axis=1, keepdims=True)
        forward = poses[:, :3, 2]  # OpenCV +z column
        assert np.all(np.einsum("ij,ij->i", forward, to_target) > 0.9)
        assert np.all(poses[:, 1, 1] < 0)  # image "down" points down in the world


# --------------------------------------------------------------------------------------------
# Determinism and look


def test_same_seed_same_frames_other_seed_other_frames():
    k = Intrinsics.from_focal(160, 90, 28.0)
    scene = clip_scene(Intrinsics.from_focal(W, H, 28.0), seed=0)  # the fixture's, cached
    poses = camera_path("handheld", 3, FPS, seed=0)
    first = [rgb for rgb, _ in render_frames(scene, poses, k, seed=0)]
    again = [rgb for rgb, _ in render_frames(scene, poses, k, seed=0, workers=1)]
    other = [rgb for rgb, _ in render_frames(scene, poses, k, seed=1)]
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)  # sensor noise follows the seed


def test_scene_build_is_deterministic_and_seed_dependent():
    a, b = build_courtyard(5, 0.05), build_courtyard(5, 0.05)
    np.testing.assert_array_equal(a.atlas.texels, b.atlas.texels)  # threads do not matter
    assert [x.centre_xz for x in a.boxes] == [x.centre_xz for x in b.boxes]
    # The layout does not depend on texture resolution, only on the seed.
    other = clip_scene(Intrinsics.from_focal(W, H, 28.0), seed=0)
    assert [x.centre_xz for x in a.boxes] != [x.centre_xz for x in other.boxes]


def test_frames_are_textured_everywhere_not_flat(clip):
    mp4, _, _ = clip
    with av.open(str(mp4)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray")
    blocks = frame[: H // 16 * 16, : W // 16 * 16].reshape(H // 16, 16, W // 16, 16)
    local_std = blocks.astype(float).std(axis=(1, 3))
    # Nearly every 16x16 block carries texture a feature detector can use...
    assert (local_std > 4.0).mean() > 0.9
    # ...and the frame is exposed sensibly, not crushed or blown out.
    assert 60 < frame.mean() < 190


# --------------------------------------------------------------------------------------------
# The bundled example


def test_bundled_example_clip_matches_its_ground_truth():
    examples = Path(__file__).resolve().parents[1] / "examples"
    mp4, cam = examples / "courtyard.mp4", examples / "courtyard.camera.json"
    assert mp4.stat().st_size <= 3_000_000
    gt = GroundTruth.load(cam)
    k = gt.intrinsics
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (k.width, k.height)
        assert stream.average_rate == Fraction(gt.fps).limit_denominator(1001)
        count = sum(1 for _ in container.demux(stream) if _.size)
    assert count == len(gt.c2w) == 96
    # Still what the current code produces for that move (re-run examples/render_example.py
    # after changing the camera paths). The stage geometry does not depend on texture size,
    # so the small cached scene serves.
    scene = clip_scene(Intrinsics.from_focal(W, H, 28.0))
    expected = camera_path(
        "handheld", 96, gt.fps, target=scene.target, radius=scene.orbit_radius,
        eye_height=scene.eye_height, seed=0,
    )  # fmt: skip
    np.testing.assert_allclose(gt.c2w, expected, atol=1e-9)
