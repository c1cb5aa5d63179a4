"""Synthetic test footage with exact ground truth.

A procedurally textured courtyard is ray-cast in numpy along a known camera path, given a
camera look (vignette, sensor noise, Rec.709 tone) and encoded as H.264. The ground-truth
cameras use the `vfx-ingest.cameras/1` schema that the camera stage writes, and each frame's
depth can be kept, so every downstream pass can be checked against the truth.

Test material, not in the package: tests import it as ``support.synthetic``; benchmarks
and ``examples/render_example.py`` put ``tests/`` on ``sys.path`` first. Quick start::

    from support.synthetic import render_clip
    gt = render_clip("courtyard.mp4", path="handheld", frames=96, camera_json="cam.json")
"""

from .camera import PATH_KINDS, Intrinsics, camera_path, look_at
from .clip import clip_scene, default_texel_m, render_clip, render_frames
from .encode import encode_mp4
from .groundtruth import FIRST_FRAME, SCHEMA, GroundTruth
from .render import render_view, trace
from .scene import Scene, build_courtyard, courtyard

__all__ = [
    "FIRST_FRAME",
    "PATH_KINDS",
    "SCHEMA",
    "GroundTruth",
    "Intrinsics",
    "Scene",
    "build_courtyard",
    "camera_path",
    "clip_scene",
    "courtyard",
    "default_texel_m",
    "encode_mp4",
    "look_at",
    "render_clip",
    "render_frames",
    "render_view",
    "trace",
]
