"""``camera.chan``: Nuke's channel file, one line per frame.

    frame tx ty tz rx ry rz vfov

World Y up, translation in the solve's units, rotations in degrees for Nuke's default
rotation order ZXY (R = Ry Rx Rz, Z applied first) on a camera that looks down -Z, and the
vertical field of view in degrees. Import it on a Camera node (its Import chan file
button); the principal point and lens distortion are not part of the format (the ``.nk``
and ``.usda`` carry the principal point).
"""

from __future__ import annotations

import numpy as np

from ..axes import euler_zxy, opengl_c2w
from ..shotcam import ShotCamera


def vertical_fov(camera: ShotCamera) -> float:
    return float(np.degrees(2.0 * np.arctan(camera.height / (2.0 * camera.fy))))


def render(camera: ShotCamera) -> dict[str, bytes]:
    gl = opengl_c2w(camera.c2w)
    angles = euler_zxy(gl[:, :3, :3])
    vfov = vertical_fov(camera)
    lines = [
        " ".join([str(frame), *(f"{v:.9f}" for v in (*gl[i, :3, 3], *angles[i])), f"{vfov:.9f}"])
        for i, frame in enumerate(camera.frames)
    ]
    return {"camera.chan": ("\n".join(lines) + "\n").encode()}
