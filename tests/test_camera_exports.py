"""Every camera export read back by an independent reader and checked against the solve.

- USD through `pxr` (its own camera and frustum code): world matrices, focal length,
  stage timing and units, and the projection of the sparse points;
- `.chan` and `.nk` parsed here and rebuilt with Nuke's conventions (rotation order ZXY,
  Y up, camera looking down -Z, window translate);
- `transforms.json` with nerfstudio's axis conventions (OpenGL camera, Z-up world);
- `points.ply` against the COLMAP model;
and `vfx-ingest export camera` regenerating each file byte for byte from `sparse/`.

"The solve" is `cameras.json` and the COLMAP model in `camera/sparse`; projections are
compared with COLMAP's own projection (pycolmap) of the same points through a pinhole
camera with the solve's intrinsics (these formats carry no lens distortion).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pycolmap
import pytest

from vfx_ingest.camera.cameras_json import CamerasDoc

PIXEL_TOLERANCE = 0.5


@pytest.fixture(scope="module")
def solve(solved_shot):
    assert solved_shot.result.exit_code == 0, solved_shot.result.stderr
    doc = CamerasDoc.load(solved_shot.camera / "cameras.json")
    model = pycolmap.Reconstruction()
    model.read_binary(solved_shot.camera / "sparse")
    k = doc.intrinsics
    pinhole = pycolmap.Camera.create_from_model_name(
        1, "PINHOLE", 1.0, doc.image.width, doc.image.height
    )
    pinhole.params = [k.fx, k.fy, k.cx, k.cy]
    points = np.array([p.xyz for p in model.points3D.values()])
    return doc, model, pinhole, points


def colmap_pixels(pinhole: pycolmap.Camera, c2w: np.ndarray, points: np.ndarray):
    """COLMAP's projection of world points through a camera-to-world pose (OpenCV)."""
    cam = (points - c2w[:3, 3]) @ c2w[:3, :3]
    front = cam[:, 2] > 0.1
    return pinhole.img_from_cam(cam[front]), front


def rotation_zxy(rx: float, ry: float, rz: float) -> np.ndarray:
    """Nuke's rot_order ZXY, written out independently of the exporter: Ry @ Rx @ Rz."""
    x, y, z = np.radians([rx, ry, rz])
    rot_x = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    rot_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rot_z = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return rot_y @ rot_x @ rot_z


def gl(c2w: np.ndarray) -> np.ndarray:
    """OpenGL camera axes (y up, looking down -z): flip the y and z columns."""
    out = np.array(c2w, float)
    out[..., :3, 1:3] *= -1
    return out


# ------------------------------------------------------------------------------------------
# USD


def test_usd_reads_back_with_pxr(solved_shot, solve):
    from pxr import Usd, UsdGeom

    doc, _, _, _ = solve
    stage = Usd.Stage.Open(str(solved_shot.camera / "camera.usda"))
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    assert UsdGeom.GetStageMetersPerUnit(stage) == pytest.approx(0.01)
    assert stage.GetTimeCodesPerSecond() == 24 and stage.GetFramesPerSecond() == 24
    assert (stage.GetStartTimeCode(), stage.GetEndTimeCode()) == (1001, 1020)
    camera = UsdGeom.Camera(stage.GetDefaultPrim().GetChild("camera"))
    assert camera.GetHorizontalApertureAttr().Get() == pytest.approx(36.0)
    assert camera.GetVerticalApertureAttr().Get() == pytest.approx(20.25)
    for entry in doc.frames:
        time = Usd.TimeCode(entry.frame)
        world = np.array(camera.ComputeLocalToWorldTransform(time)).T  # Gf is row-vector
        expected = gl(np.array(entry.c2w))
        expected[:3, 3] *= 100.0  # metres (solver units) to the stage's centimetres
        np.testing.assert_allclose(world, expected, atol=1e-4 * max(1, abs(expected).max()))
        assert camera.GetFocalLengthAttr().Get(time) == pytest.approx(
            doc.intrinsics.focal_mm, abs=1e-4
        )
        assert camera.GetPrim().GetAttribute("vfxingest:solved").Get(time) is entry.solved


def test_usd_frustum_projects_points_where_colmap_does(solved_shot, solve):
    from pxr import Gf, Usd, UsdGeom

    doc, _, pinhole, points = solve
    stage = Usd.Stage.Open(str(solved_shot.camera / "camera.usda"))
    camera = UsdGeom.Camera(stage.GetPrimAtPath("/World/camera"))
    width, height = doc.image.width, doc.image.height
    for entry in doc.frames[:: len(doc.frames) // 4]:
        frustum = camera.GetCamera(Usd.TimeCode(entry.frame)).frustum
        to_ndc = frustum.ComputeViewMatrix() * frustum.ComputeProjectionMatrix()
        expected, front = colmap_pixels(pinhole, np.array(entry.c2w), points)
        got = []
        for p in points[front] * 100.0:
            ndc = to_ndc.Transform(Gf.Vec3d(*p))  # homogeneous divide included
            got.append([(ndc[0] + 1) / 2 * width, (1 - ndc[1]) / 2 * height])
        assert np.abs(np.array(got) - expected).max() < PIXEL_TOLERANCE


# ------------------------------------------------------------------------------------------
# Nuke


def read_chan(path) -> dict[int, list[float]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return {int(r[0]): [float(v) for v in r[1:]] for r in rows}


def test_chan_rebuilds_the_cameras_with_zxy_rotations(solved_shot, solve):
    doc, _, _, _ = solve
    chan = read_chan(solved_shot.camera / "camera.chan")
    assert sorted(chan) == doc.frame_numbers()
    for entry in doc.frames:
        tx, ty, tz, rx, ry, rz, vfov = chan[entry.frame]
        expected = gl(np.array(entry.c2w))
        np.testing.assert_allclose([tx, ty, tz], expected[:3, 3], atol=1e-6)
        np.testing.assert_allclose(rotation_zxy(rx, ry, rz), expected[:3, :3], atol=1e-6)
        k = doc.intrinsics
        assert vfov == pytest.approx(np.degrees(2 * np.arctan(doc.image.height / 2 / k.fy)))
    # Animation curves without 360-degree jumps.
    angles = np.array([chan[f][3:6] for f in doc.frame_numbers()])
    assert np.abs(np.diff(angles, axis=0)).max() < 30


def parse_nk(text: str) -> dict[str, list[list[float]]]:
    """Knob name -> one list per component: curves as per-frame values, constants as one."""
    knobs: dict[str, list[list[float]]] = {}
    for name, body in re.findall(r"^ (\w+) (.+)$", text, flags=re.M):
        curves = re.findall(r"\{curve ([^}]*)\}", body)
        if curves:
            knobs[name] = [[float(v) for v in re.findall(r"x\d+ (\S+)", c)] for c in curves]
        elif re.fullmatch(r"\{?[-\d. ]+\}?", body):
            knobs[name] = [[float(v)] for v in body.strip("{}").split()]
    return knobs


def test_nk_camera_projects_points_where_colmap_does(solved_shot, solve):
    doc, _, pinhole, points = solve
    text = (solved_shot.camera / "camera.nk").read_text()
    assert "Camera2 {" in text and " rot_order ZXY" in text
    knobs = parse_nk(text)
    chan = read_chan(solved_shot.camera / "camera.chan")
    width, height = doc.image.width, doc.image.height
    haperture, vaperture = knobs["haperture"][0][0], knobs["vaperture"][0][0]
    assert haperture == pytest.approx(36.0) and vaperture == pytest.approx(20.25)
    wx, wy = (v[0] for v in knobs["win_translate"])
    for i, frame in enumerate(doc.frame_numbers()):
        values = [knobs["translate"][a][i] for a in range(3)]
        values += [knobs["rotate"][a][i] for a in range(3)]
        np.testing.assert_allclose(values, chan[frame][:6], atol=1e-8)
        focal = knobs["focal"][0][i]
        assert focal == pytest.approx(doc.intrinsics.focal_mm)
        if i % 5:
            continue
        # Nuke's camera: world to camera by the inverse of T R, looking down -Z; the film
        # back spans [-1, 1] across haperture (both axes in units of half of it); the
        # window translate moves the window, so the image moves the other way.
        rotation = rotation_zxy(*values[3:])
        cam = (points - values[:3]) @ rotation
        front = -cam[:, 2] > 0.1
        scale = focal / (haperture / 2)
        x = scale * cam[front, 0] / -cam[front, 2] - wx
        y = scale * cam[front, 1] / -cam[front, 2] - wy
        got = np.stack([(x + 1) / 2 * width, height / 2 - y * width / 2], axis=1)
        expected, _ = colmap_pixels(pinhole, np.array(doc.frames[i].c2w), points[front])
        assert np.abs(got - expected).max() < PIXEL_TOLERANCE


# ------------------------------------------------------------------------------------------
# nerfstudio


def test_transforms_json_follows_nerfstudio_conventions(solved_shot, solve):
    doc, _, pinhole, points = solve
    data = json.loads((solved_shot.camera / "transforms.json").read_text())
    k = doc.intrinsics
    assert data["camera_model"] == "OPENCV"
    assert (data["w"], data["h"]) == (doc.image.width, doc.image.height)
    assert (data["fl_x"], data["fl_y"], data["cx"], data["cy"]) == (k.fx, k.fy, k.cx, k.cy)
    assert data["k1"] == k.distortion[0] and data["p1"] == data["p2"] == 0.0
    solved = [f for f in doc.frames if f.solved]  # an interpolated camera would mislead
    assert len(data["frames"]) == len(solved) == len(doc.frames) - 1
    z_up = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(data["applied_transform"], z_up[:3])
    assert (solved_shot.camera / data["ply_file_path"]).is_file()
    for entry, frame in zip(solved, data["frames"], strict=True):
        assert (solved_shot.camera / frame["file_path"]).is_file()
        assert frame["file_path"].endswith(f"plate.{entry.frame}.png")
        matrix = np.array(frame["transform_matrix"])
        np.testing.assert_allclose(matrix, z_up @ gl(np.array(entry.c2w)), atol=1e-12)
    # Project the points (moved into the file's Z-up world) the way nerfstudio's cameras
    # do: OpenGL camera axes, y up, so image rows grow against camera y.
    moved = points @ z_up[:3, :3].T
    for entry, frame in list(zip(solved, data["frames"], strict=True))[::6]:
        matrix = np.array(frame["transform_matrix"])
        cam = (moved - matrix[:3, 3]) @ matrix[:3, :3]
        front = -cam[:, 2] > 0.1
        u = data["fl_x"] * cam[front, 0] / -cam[front, 2] + data["cx"]
        v = -data["fl_y"] * cam[front, 1] / -cam[front, 2] + data["cy"]
        expected, _ = colmap_pixels(pinhole, np.array(entry.c2w), points[front])
        assert np.abs(np.stack([u, v], 1) - expected).max() < PIXEL_TOLERANCE


def test_ply_holds_the_models_points(solved_shot, solve):
    _, model, _, points = solve
    data = (solved_shot.camera / "points.ply").read_bytes()
    header = data[: data.index(b"end_header\n")].decode()
    count = int(re.search(r"element vertex (\d+)", header).group(1))
    assert count == model.num_points3D() == len(points)
    assert "property float x" in header or "property double x" in header


# ------------------------------------------------------------------------------------------
# vfx-ingest export camera


def test_export_regenerates_every_file_byte_for_byte(solved_shot, cli, tmp_path):
    out = tmp_path / "again"
    result = cli("export", "camera", solved_shot.shot, "--format", "all", "--out", out)
    assert result.exit_code == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "camera.chan",
        "camera.nk",
        "camera.usda",
        "cameras.json",
        "points.ply",
        "points_nerfstudio.ply",
        "transforms.json",
    ]
    for name in written:
        if name != "transforms.json":  # its image paths lead from `out` to the shot
            assert (out / name).read_bytes() == (solved_shot.camera / name).read_bytes(), name
    again, first = (
        json.loads((f / "transforms.json").read_text()) for f in (out, solved_shot.camera)
    )
    for moved, kept in zip(again["frames"], first["frames"], strict=True):
        resolved = (out / moved.pop("file_path")).resolve()
        assert resolved == (solved_shot.camera / kept.pop("file_path")).resolve()
    assert again == first
    piped = cli("export", "camera", solved_shot.shot, "--format", "chan", "--out", "-")
    assert piped.stdout == (solved_shot.camera / "camera.chan").read_text()


def test_export_into_the_shot_keeps_the_pass_verified(solved_shot, cli):
    result = cli("export", "camera", solved_shot.shot, "--format", "nk", "--format", "usd")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [
        str(solved_shot.camera / "camera.nk"),
        str(solved_shot.camera / "camera.usda"),
    ]
    status = cli("status", solved_shot.shot, "--json")
    manifest = json.loads(status.stdout)
    assert manifest["stages"]["camera"]["status"] == "done"
    table = cli("status", solved_shot.shot)
    assert "stale" not in table.stdout


def test_export_of_a_shot_without_a_solve_is_bad_input(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    result = cli("export", "camera", shot, "--format", "chan")
    assert result.exit_code == 2 and "has no camera solve" in result.stderr
    assert cli("export", "camera", shot, "--format", "fbx").exit_code == 2


# ------------------------------------------------------------------------------------------
# An off-centre principal point (the synthetic shot above has a centred one).


@pytest.fixture(scope="module")
def offset_camera():
    from vfx_ingest.camera.cameras_json import SolveStats
    from vfx_ingest.camera.shotcam import from_reconstruction

    from support.synthetic import camera_path

    width, height = 320, 180
    camera = pycolmap.Camera.create_from_model_name(1, "PINHOLE", 1.0, width, height)
    camera.params = [300.0, 300.0, 171.5, 83.25]
    model = pycolmap.Reconstruction()
    model.add_camera_with_trivial_rig(camera)
    poses = camera_path("handheld", 4, 24, seed=3)
    for i, c2w in enumerate(poses):
        image = pycolmap.Image(name=f"plate.{1001 + i}.png", camera_id=1, image_id=i + 1)
        r = c2w[:3, :3].T
        model.add_image_with_trivial_frame(
            image, pycolmap.Rigid3d(pycolmap.Rotation3d(r), -r @ c2w[:3, 3])
        )
    rng = np.random.default_rng(0)
    points = rng.uniform([-2, 0, -2], [2, 2, 2], (60, 3))
    for p in points:
        model.add_point3D(p, pycolmap.Track())
    stats = SolveStats(
        frames=4, registered=4, interpolated=[], keyframes=4, points=60,
        mean_reprojection_error=0.0, matched_pairs=0, mapper="incremental", quality="fast",
        camera_model="PINHOLE", focal="fixed", up="test", scale="test", units="meters",
        sensor_width_mm=36.0, sensor="test", sift="cpu",
    )  # fmt: skip
    plates = [f"plate/plate.{1001 + i}.png" for i in range(4)]
    shot = from_reconstruction(model, [1001, 1002, 1003, 1004], plates, 24, stats)
    return shot, camera, poses, points


def test_usd_aperture_offsets_carry_the_principal_point(offset_camera):
    from pxr import Gf, Usd, UsdGeom

    from vfx_ingest.camera.exports import usd

    shot, camera, poses, points = offset_camera
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().ImportFromString(usd.render(shot)["camera.usda"].decode())
    cam = UsdGeom.Camera(stage.GetPrimAtPath("/World/camera"))
    for i, c2w in enumerate(poses):
        frustum = cam.GetCamera(Usd.TimeCode(1001 + i)).frustum
        to_ndc = frustum.ComputeViewMatrix() * frustum.ComputeProjectionMatrix()
        expected, front = colmap_pixels(camera, c2w, points)
        got = [to_ndc.Transform(Gf.Vec3d(*(p * 100.0))) for p in points[front]]
        got = np.array([[(n[0] + 1) / 2 * 320, (1 - n[1]) / 2 * 180] for n in got])
        assert np.abs(got - expected).max() < 1e-3
    assert cam.GetClippingRangeAttr().Get() == Gf.Vec2f(usd.CLIPPING_CM)


def test_usd_timing_follows_a_clip_that_is_not_24_fps(offset_camera):
    """(USD's own default is 24 fps: a 25 fps shot shows that the rate is written.)"""
    import dataclasses
    from fractions import Fraction

    from pxr import Usd

    from vfx_ingest.camera.exports import usd

    shot = dataclasses.replace(offset_camera[0], fps=Fraction(25))
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().ImportFromString(usd.render(shot)["camera.usda"].decode())
    assert stage.GetFramesPerSecond() == stage.GetTimeCodesPerSecond() == 25.0
    assert (stage.GetStartTimeCode(), stage.GetEndTimeCode()) == (1001.0, 1004.0)


def test_nk_window_translate_carries_the_principal_point(offset_camera):
    from vfx_ingest.camera.exports import nuke_nk

    shot, camera, poses, points = offset_camera
    text = nuke_nk.render(shot)["camera.nk"].decode()
    assert text.startswith("# vfx-ingest camera: frames 1001-1004, 320x180, 24 fps\n")
    knobs = parse_nk(text)
    wx, wy = (v[0] for v in knobs["win_translate"])
    haperture = knobs["haperture"][0][0]
    assert (wx, wy) != (0.0, 0.0) and "win_scale" not in knobs
    for i, c2w in enumerate(poses):
        values = [knobs["translate"][a][i] for a in range(3)]
        values += [knobs["rotate"][a][i] for a in range(3)]
        rotation = rotation_zxy(*values[3:])
        cam = (points - values[:3]) @ rotation
        front = -cam[:, 2] > 0.1
        scale = knobs["focal"][0][i] / (haperture / 2)
        x = scale * cam[front, 0] / -cam[front, 2] - wx
        y = scale * cam[front, 1] / -cam[front, 2] - wy
        got = np.stack([(x + 1) / 2 * 320, 90 - y * 160], axis=1)
        expected, _ = colmap_pixels(camera, c2w, points[front])
        assert np.abs(got - expected).max() < 1e-3


def test_transforms_json_lists_masks_and_depth_when_the_shot_has_them(offset_camera, tmp_path):
    from dataclasses import replace

    from vfx_ingest.camera.exports import nerfstudio
    from vfx_ingest.io.images import decode_png, encode_png

    shot, _, _, _ = offset_camera
    label = tmp_path / "roto" / "car"
    label.mkdir(parents=True)
    moving = np.zeros((180, 320), np.uint8)
    moving[40:80, 100:200] = 255
    (label / "roto.1002.png").write_bytes(encode_png(moving))  # the car is in frame 1002 only
    depth = [f"depth/depth.{f}.exr" for f in shot.frames]
    files = nerfstudio.render(replace(shot, roto=[label], depth=depth))
    data = json.loads(files["transforms.json"])
    frames = {int(f["file_path"].split(".")[-2]): f for f in data["frames"]}
    assert frames[1003]["depth_file_path"] == "../depth/depth.1003.exr"
    assert frames[1002]["mask_path"] == "masks/mask.1002.png"
    keep = decode_png(files["masks/mask.1002.png"])
    assert keep[60, 150] == 0 and keep[10, 10] == 255  # nerfstudio ignores black pixels
    assert decode_png(files["masks/mask.1001.png"]).min() == 255
    bare = json.loads(nerfstudio.render(shot)["transforms.json"])
    assert all("mask_path" not in f and "depth_file_path" not in f for f in bare["frames"])


# ------------------------------------------------------------------------------------------
# nerfstudio's loader, step by step (nerfstudio 1.1.5, nerfstudio_dataparser.py): frames'
# `transform_matrix` are oriented and centred (`auto_orient_and_center_poses`, "up" and
# "poses"), then scaled so the farthest camera is at 1; the ply that `ply_file_path` names
# is moved by the same orientation and scale, and by nothing else (`applied_transform` is
# only kept to map outputs back).


def read_ply(data: bytes) -> np.ndarray:
    """The vertices of a binary little-endian PLY with float x, y, z first (parsed here)."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    assert header[1] == "format binary_little_endian 1.0"
    count = int(next(line for line in header if line.startswith("element vertex")).split()[2])
    sizes = {"float": "<f4", "double": "<f8", "uchar": "u1"}
    fields = [(line.split()[2], sizes[line.split()[1]]) for line in header if "property" in line]
    vertices = np.frombuffer(data[end:], np.dtype(fields), count=count)
    return np.stack([vertices["x"], vertices["y"], vertices["z"]], 1).astype(float)


def nerfstudio_load(folder) -> tuple[dict, np.ndarray, np.ndarray]:
    """What nerfstudio's dataparser hands a model: (intrinsics, camera-to-world (N, 4, 4),
    points (M, 3)), all in its output world."""
    meta = json.loads((folder / "transforms.json").read_text())
    poses = np.array([f["transform_matrix"] for f in meta["frames"]], float)
    up = poses[:, :3, 1].mean(0)
    up /= np.linalg.norm(up)
    # The rotation taking `up` to +z (Rodrigues), then centring on the cameras' mean.
    v, c = np.cross(up, [0, 0, 1.0]), float(up @ [0, 0, 1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    rotation = np.eye(3) + vx + vx @ vx / (1 + c)
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = -rotation @ poses[:, :3, 3].mean(0)
    poses = transform @ poses
    scale = 1.0 / np.abs(poses[:, :3, 3]).max()
    poses[:, :3, 3] *= scale
    points = read_ply((folder / meta["ply_file_path"]).read_bytes())
    points = (np.c_[points, np.ones(len(points))] @ transform.T)[:, :3] * scale
    return meta, poses, points


def test_nerfstudio_loader_puts_the_points_in_front_of_the_cameras(offset_camera, tmp_path):
    from vfx_ingest.camera.exports import render_all

    shot, camera, poses, points = offset_camera
    for rel, data in render_all(shot).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    meta, loaded, moved = nerfstudio_load(tmp_path)
    assert len(moved) == len(points)
    landed = 0
    for c2w_gl, c2w in zip(loaded, poses, strict=True):
        cam = (moved - c2w_gl[:3, 3]) @ c2w_gl[:3, :3]  # OpenGL camera: looking down -z
        front = -cam[:, 2] > 0.1
        u = meta["fl_x"] * cam[front, 0] / -cam[front, 2] + meta["cx"]
        v = -meta["fl_y"] * cam[front, 1] / -cam[front, 2] + meta["cy"]
        expected, seen = colmap_pixels(camera, c2w, points)
        assert np.array_equal(front, seen)
        np.testing.assert_allclose(np.stack([u, v], 1), expected, atol=1e-3)
        landed += int(((u >= 0) & (u < meta["w"]) & (v >= 0) & (v < meta["h"])).sum())
    assert landed > len(points)  # most points are seen, by more than one camera


def test_export_out_elsewhere_names_files_that_resolve_from_there(solved_shot, cli, tmp_path):
    for out in (tmp_path / "deep" / "cams", solved_shot.shot):
        result = cli("export", "camera", solved_shot.shot, "--format", "nerfstudio", "--out", out)
        assert result.exit_code == 0, result.stderr
        data = json.loads((out / "transforms.json").read_text())
        assert data["frames"] and (out / data["ply_file_path"]).is_file()
        for frame in data["frames"]:
            assert (out / frame["file_path"]).is_file(), frame["file_path"]
            assert not frame["file_path"].startswith("/")  # same drive: relative


# ------------------------------------------------------------------------------------------
# Blender (docs/camera.md): the PLY imported with forward -Z and up Y lines up with
# camera.usda as Blender's USD importer places it (a Y-up stage turned Z-up, unit scale
# applied); with the PLY importer's own defaults (forward Y, up Z) it does not.


def blender_axis_conversion(forward: str, up: str) -> np.ndarray:
    """Blender's `axis_conversion(from_forward, from_up)` into its own axes (forward Y,
    up Z), rebuilt here: the file's forward goes to Y, its up to Z, right-handed."""
    axes = {"X": [1, 0, 0], "Y": [0, 1, 0], "Z": [0, 0, 1]}

    def vector(name: str) -> np.ndarray:
        return -np.array(axes[name[1]], float) if name[0] == "-" else np.array(axes[name], float)

    f, u = vector(forward), vector(up)
    source = np.stack([np.cross(f, u), f, u], 1)  # the file's right, forward, up
    return np.eye(3) @ np.linalg.inv(source)  # ... onto Blender's X, Y, Z


def documented_blender_axes() -> tuple[str, str]:
    """The PLY import axes docs/camera.md tells Blender users to set."""
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "camera.md").read_text()
    found = re.search(r"Stanford PLY with Forward `(-?[XYZ])`, Up `(-?[XYZ])`", doc)
    assert found, "docs/camera.md gives no PLY import axes for Blender"
    return found.group(1), found.group(2)


def test_docs_tell_blender_and_nuke_users_the_settings_that_line_up():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "camera.md").read_text()
    assert documented_blender_axes() == ("-Z", "Y")
    assert doc.count("ZXY") >= 2  # the .chan's rotation order, for Nuke and for Blender


@pytest.mark.parametrize("documented", [True, False])
def test_blender_ply_import_axes_line_up_with_the_usd_camera(solved_shot, solve, documented):
    from pxr import Usd, UsdGeom

    # The axes the docs give, and the importer's defaults (forward Y, up Z) for contrast.
    forward, up = documented_blender_axes() if documented else ("Y", "Z")
    lines_up = documented
    doc, _, pinhole, _ = solve
    points = read_ply((solved_shot.camera / "points.ply").read_bytes())
    in_blender = points @ blender_axis_conversion(forward, up).T
    stage = Usd.Stage.Open(str(solved_shot.camera / "camera.usda"))
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    to_z_up = np.diag([1.0, 1.0, 1.0, 1.0])
    to_z_up[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # +90 degrees about X
    metres = UsdGeom.GetStageMetersPerUnit(stage)
    camera = UsdGeom.Camera(stage.GetPrimAtPath("/World/camera"))
    errors = []
    for entry in doc.frames[:: len(doc.frames) // 4]:
        world = np.array(camera.ComputeLocalToWorldTransform(Usd.TimeCode(entry.frame))).T
        world[:3, 3] *= metres
        world = to_z_up @ world
        cam = (in_blender - world[:3, 3]) @ world[:3, :3]  # Blender cameras look down -Z
        front = -cam[:, 2] > 0.1
        u = pinhole.focal_length_x * cam[:, 0] / -cam[:, 2] + pinhole.principal_point_x
        v = -pinhole.focal_length_y * cam[:, 1] / -cam[:, 2] + pinhole.principal_point_y
        expected, seen = colmap_pixels(pinhole, np.array(entry.c2w), points)
        if not np.array_equal(front, seen):
            errors.append(np.inf)
            continue
        errors.append(np.abs(np.stack([u, v], 1)[front] - expected).max())
    assert bool(max(errors) < PIXEL_TOLERANCE) == lines_up, errors
