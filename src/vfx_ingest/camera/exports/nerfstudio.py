"""``transforms.json`` for nerfstudio (and instant-ngp), in nerfstudio's published format.

- Intrinsics at the top (one shared camera): ``camera_model`` "OPENCV" with ``fl_x``,
  ``fl_y``, ``cx``, ``cy``, ``w``, ``h`` and ``k1``, ``k2``, ``p1``, ``p2`` (zero where the
  solve's model has no such term).
- ``transform_matrix``: camera-to-world with OpenGL camera axes (x right, y up, looking
  down -z) in nerfstudio's Z-up world; ``applied_transform`` records the rotation from our
  Y-up world (nerfstudio keeps it only to map its outputs back).
- ``ply_file_path`` names ``points_nerfstudio.ply``: the sparse points already in that Z-up
  world. nerfstudio's loader (1.1.5, ``_load_3D_points``) moves the ply's points with the
  same orientation and scale as the frames but never applies ``applied_transform``, so the
  Y-up ``points.ply`` would sit 90 degrees away from the cameras.
- ``file_path`` points at the plate (``../plate/...`` from the shot's ``camera/``; from
  another export folder, the way from there), ``mask_path`` at masks written next to this
  file when the shot has roto (white = static, use; black = moving object, ignore) and
  ``depth_file_path`` at the depth pass when the shot has metric depth (a relative model's
  disparity is never handed to nerfstudio as depth).
- Only solved frames are listed: an interpolated camera would teach a radiance field the
  wrong view. They are in ``cameras.json`` and the other exports, flagged.
"""

from __future__ import annotations

import json

from ...frames import frame_path
from ..axes import Y_UP_TO_Z_UP, opengl_c2w
from ..inputs import static_mask_png
from ..shotcam import ShotCamera
from . import ply

PLY_NAME = "points_nerfstudio.ply"

DISTORTION_KEYS = {
    "SIMPLE_PINHOLE": (),
    "PINHOLE": (),
    "SIMPLE_RADIAL": ("k1",),
    "RADIAL": ("k1", "k2"),
    "OPENCV": ("k1", "k2", "p1", "p2"),
}


def render(camera: ShotCamera) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    doc: dict[str, object] = {
        "camera_model": "OPENCV",
        "fl_x": camera.fx,
        "fl_y": camera.fy,
        "cx": camera.cx,
        "cy": camera.cy,
        "w": camera.width,
        "h": camera.height,
    }
    terms = dict(zip(DISTORTION_KEYS[camera.model], camera.distortion, strict=True))
    doc.update({key: float(terms.get(key, 0.0)) for key in ("k1", "k2", "p1", "p2")})
    matrices = Y_UP_TO_Z_UP @ opengl_c2w(camera.c2w)
    frames = []
    for i, frame in enumerate(camera.frames):
        if not camera.solved[i]:
            continue
        entry: dict[str, object] = {
            "file_path": f"{camera.shot_prefix}{camera.plates[i]}",
            "transform_matrix": matrices[i].tolist(),
        }
        if camera.roto:
            mask = frame_path("mask", frame, "png")
            size = (camera.width, camera.height)
            files[f"masks/{mask}"] = static_mask_png(camera.roto, frame, size)
            entry["mask_path"] = f"masks/{mask}"
        if camera.depth:
            entry["depth_file_path"] = f"{camera.shot_prefix}{camera.depth[i]}"
        frames.append(entry)
    doc["frames"] = frames
    doc["applied_transform"] = Y_UP_TO_Z_UP[:3].tolist()
    doc["ply_file_path"] = PLY_NAME
    xyz, rgb = camera.points()
    files[PLY_NAME] = ply.encode(xyz @ Y_UP_TO_Z_UP[:3, :3].T, rgb)
    files["transforms.json"] = (json.dumps(doc, indent=2) + "\n").encode()
    return files
