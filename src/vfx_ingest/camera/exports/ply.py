"""``points.ply``: the sparse points with their colours, in our Y-up world.

Binary little-endian PLY with float ``x y z`` and uchar ``red green blue`` per vertex (the
layout COLMAP writes). :func:`encode` also serves the nerfstudio export, which needs the
same points in its own Z-up world.
"""

from __future__ import annotations

import numpy as np

from ..shotcam import ShotCamera

VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])


def encode(xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    """PLY bytes for points (N, 3) and their 8-bit colours (N, 3)."""
    vertices = np.empty(len(xyz), VERTEX)
    for i, axis in enumerate("xyz"):
        vertices[axis] = xyz[:, i]
    for i, channel in enumerate("rgb"):
        vertices[channel] = rgb[:, i]
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    return header.encode() + vertices.tobytes()


def render(camera: ShotCamera) -> dict[str, bytes]:
    return {"points.ply": encode(*camera.points())}
