"""``camera.nk``: a Nuke Camera node with the solve baked in (paste it or File > Import).

- ``translate`` / ``rotate``: animated curves, one key per frame, the same values as the
  ``.chan`` (Y up, degrees, ``rot_order ZXY``);
- ``focal``: animated (constant over the shot: one shared camera), in mm;
- ``haperture`` / ``vaperture``: the film back in mm (``--sensor-mm`` or 36 mm wide);
- ``win_translate``: the principal point's offset from the image centre, in Nuke's window
  units (half the horizontal aperture, for both axes; y up), moving the window opposite
  to the point: ((w - 2 cx) / w, (2 cy - h) / w);
- ``win_scale {1 fx/fy}`` only when the solve's pixels are not square (OPENCV or PINHOLE
  with fx != fy): Nuke's projection has one focal length.

Lens distortion is not applied (Nuke needs a LensDistortion node for that); the node's
label says when the solve has any.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..axes import euler_zxy, opengl_c2w
from ..shotcam import ShotCamera


def curve(frames: Sequence[int], values: Sequence[float]) -> str:
    keys = " ".join(f"x{f} {v:.9f}" for f, v in zip(frames, values, strict=True))
    return "{curve " + keys + "}"


def window_translate(camera: ShotCamera) -> tuple[float, float]:
    w, h = camera.width, camera.height
    return (w - 2.0 * camera.cx) / w, (2.0 * camera.cy - h) / w


def render(camera: ShotCamera) -> dict[str, bytes]:
    gl = opengl_c2w(camera.c2w)
    angles = euler_zxy(gl[:, :3, :3])
    frames = camera.frames
    translate = " ".join(curve(frames, gl[:, axis, 3]) for axis in range(3))
    rotate = " ".join(curve(frames, angles[:, axis]) for axis in range(3))
    focal = curve(frames, [camera.focal_mm] * len(frames))
    wx, wy = window_translate(camera)
    interpolated = len(camera.frames) - sum(camera.solved)
    label = f"vfx-ingest solve\\n{camera.model}, {camera.stats.units}"
    if any(abs(k) > 0 for k in camera.distortion):
        label += "\\nlens distortion not applied"
    if interpolated:
        label += f"\\n{interpolated} interpolated frame{'s' if interpolated > 1 else ''}"
    text = "\n".join(
        [
            f"# vfx-ingest camera: frames {frames[0]}-{frames[-1]}, "
            f"{camera.width}x{camera.height}, {float(camera.fps):g} fps",
            "Camera2 {",
            " inputs 0",
            " rot_order ZXY",
            f" translate {{{translate}}}",
            f" rotate {{{rotate}}}",
            f" focal {{{focal}}}",
            f" haperture {camera.sensor_width_mm:.9f}",
            f" vaperture {camera.sensor_height_mm:.9f}",
            f" win_translate {{{wx:.9f} {wy:.9f}}}",
            *([f" win_scale {{1 {camera.fx / camera.fy:.9f}}}"] if camera.fx != camera.fy else []),
            " name vfx_ingest_camera",
            f' label "{label}"',
            "}",
            "",
        ]
    )
    return {"camera.nk": text.encode()}
