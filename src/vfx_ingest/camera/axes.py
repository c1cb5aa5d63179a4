"""Axis conventions between our cameras (OpenCV) and the applications we export to.

- Ours (``cameras.json``, COLMAP): camera x right, y down, z forward; world Y up.
- OpenGL cameras (Nuke, USD, nerfstudio, Blender, Houdini): x right, y up, looking down
  -z. The same camera-to-world matrix with its y and z columns negated.
- nerfstudio's world is Z up: (x, y, z) in ours is (x, -z, y) in theirs.
- Nuke's rotation order ZXY applies Z first, then X, then Y: R = Ry @ Rx @ Rz.
"""

from __future__ import annotations

import numpy as np

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])
Y_UP_TO_Z_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


def opengl_c2w(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world with OpenGL camera axes, from OpenCV ones (any leading shape)."""
    return np.asarray(c2w, float) @ OPENCV_TO_OPENGL


def rotation_zxy(rx: float, ry: float, rz: float) -> np.ndarray:
    """R = Ry @ Rx @ Rz from angles in degrees (Nuke's rot_order ZXY)."""
    a, b, c = np.radians([rx, ry, rz])
    x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    z = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return y @ x @ z


def euler_zxy(rotations: np.ndarray) -> np.ndarray:
    """Angles (N, 3) in degrees, (rx, ry, rz), with R = Ry @ Rx @ Rz for each rotation
    (N, 3, 3); each frame's angles are the solution nearest the previous frame's, so the
    curves have no 360-degree jumps."""
    out = np.empty((len(rotations), 3))
    previous: np.ndarray | None = None
    for i, r in enumerate(np.asarray(rotations, float)):
        rx = np.arcsin(np.clip(-r[1, 2], -1.0, 1.0))
        if abs(np.cos(rx)) > 1e-9:
            ry = np.arctan2(r[0, 2], r[2, 2])
            rz = np.arctan2(r[1, 0], r[1, 1])
        else:  # gimbal lock: only ry - rz (or ry + rz) is defined; keep rz = 0
            ry = np.arctan2(-r[2, 0], r[0, 0])
            rz = 0.0
        angles = np.degrees([rx, ry, rz])
        # The other solution of the same rotation: (180 - rx, ry + 180, rz + 180).
        candidates = [angles, np.array([180.0 - angles[0], angles[1] + 180.0, angles[2] + 180.0])]
        if previous is not None:
            candidates = [previous + (c - previous + 180.0) % 360.0 - 180.0 for c in candidates]
            angles = min(candidates, key=lambda c: float(np.abs(c - previous).sum()))
        out[i] = angles
        previous = angles
    return out
