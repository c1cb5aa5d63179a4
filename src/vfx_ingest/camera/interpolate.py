"""Cameras for frames the solver could not register: interpolated, flagged, never dropped.

Between two solved frames the rotation is slerped (pycolmap's ``Rigid3d.interpolate``)
and the camera centre moves linearly (interpolating the world-to-camera translation
instead would swing the centre off the path). Before the first or after the last solved
frame the nearest solved camera is held.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pycolmap


def fill(c2w: Sequence[np.ndarray | None]) -> tuple[np.ndarray, list[bool]]:
    """Every frame's camera-to-world (N, 4, 4) and whether it was solved (not filled in)."""
    solved = [m is not None for m in c2w]
    known = [i for i, ok in enumerate(solved) if ok]
    if not known:
        raise ValueError("no solved frame to interpolate from")
    out = np.empty((len(c2w), 4, 4))
    for i, m in enumerate(c2w):
        if m is not None:
            out[i] = m
            continue
        before = max((k for k in known if k < i), default=None)
        after = min((k for k in known if k > i), default=None)
        if before is None or after is None:
            out[i] = out_of(c2w, after if before is None else before)
            continue
        t = (i - before) / (after - before)
        out[i] = between(out_of(c2w, before), out_of(c2w, after), t)
    return out, solved


def between(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The camera a fraction ``t`` of the way from ``a`` to ``b`` (both camera-to-world)."""
    slerped = pycolmap.Rigid3d.interpolate(_cam_from_world(a), _cam_from_world(b), t)
    m = np.eye(4)
    m[:3, :3] = slerped.rotation.matrix().T
    m[:3, 3] = (1 - t) * a[:3, 3] + t * b[:3, 3]
    return m


def out_of(c2w: Sequence[np.ndarray | None], index: int | None) -> np.ndarray:
    assert index is not None
    found = c2w[index]
    assert found is not None
    return np.asarray(found, float)


def _cam_from_world(c2w: np.ndarray) -> pycolmap.Rigid3d:
    m = np.asarray(c2w, float)
    r = m[:3, :3].T
    return pycolmap.Rigid3d(pycolmap.Rotation3d(r), -r @ m[:3, 3])
