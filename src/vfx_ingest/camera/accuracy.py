"""How close a solve is to known cameras: absolute trajectory and rotation error.

A solve's world differs from the truth by a similarity (the solver cannot know the
origin, heading or scale), so the two are aligned first. The alignment uses every
camera's position *and* orientation (points a tenth of the path length along each
camera's axes join the centres): with centres alone, a path that keeps nearly the same
height leaves the tilt about its direction of travel free, and the fit can show a
rotation error that is the fit's, not the solve's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap


@dataclass(frozen=True)
class Accuracy:
    frames: int
    path_length: float  # truth units
    ate_rmse: float  # truth units, after alignment
    rotation_mean_deg: float
    rotation_max_deg: float

    @property
    def ate_percent(self) -> float:
        """ATE RMSE as a percentage of the camera path's length."""
        return 100.0 * self.ate_rmse / self.path_length


def path_length(c2w: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(c2w[:, :3, 3], axis=0), axis=1).sum())


def align(estimate: np.ndarray, truth: np.ndarray) -> pycolmap.Sim3d:
    """The similarity taking the estimate's world to the truth's (camera-to-world inputs).

    The axis points make it well posed even for a straight dolly, whose centres alone
    (on one line) leave the roll about that line free."""
    reach = 0.1 * max(path_length(truth), 1e-9)
    scale = path_length(truth) / max(path_length(estimate), 1e-12)  # first guess
    src = [estimate[:, :3, 3]] + [
        estimate[:, :3, 3] + estimate[:, :3, axis] * reach / scale for axis in range(3)
    ]
    tgt = [truth[:, :3, 3]] + [truth[:, :3, 3] + truth[:, :3, axis] * reach for axis in range(3)]
    found = pycolmap.estimate_sim3d(np.concatenate(src), np.concatenate(tgt))
    if found is None:
        raise ValueError("the cameras are degenerate; cannot align them")
    return found


def accuracy(estimate: np.ndarray, truth: np.ndarray) -> Accuracy:
    """Errors of ``estimate`` (N, 4, 4) against ``truth`` (N, 4, 4), both camera-to-world
    with OpenCV axes, frame for frame."""
    sim = align(estimate, truth)
    m = sim.matrix()
    rotation = m[:3, :3] / sim.scale
    centres = estimate[:, :3, 3] @ m[:3, :3].T + m[:3, 3]
    errors = np.linalg.norm(centres - truth[:, :3, 3], axis=1)
    relative = np.einsum("nji,jk,nkl->nil", truth[:, :3, :3], rotation, estimate[:, :3, :3])
    cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    angles = np.degrees(np.arccos(cos))
    return Accuracy(
        frames=len(estimate),
        path_length=path_length(truth),
        ate_rmse=float(np.sqrt(np.mean(errors**2))),
        rotation_mean_deg=float(angles.mean()),
        rotation_max_deg=float(angles.max()),
    )
