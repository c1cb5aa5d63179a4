"""Choose keyframes: the frames the map is built from.

Features are followed from the last keyframe through the verified matches of consecutive
frames (like a tracker). A frame becomes the next keyframe when

- the tracked features have moved enough *relative to each other*: the median residual
  after the best homography from the keyframe (which absorbs a pan, a tilt or a zoom,
  none of which gives depth) exceeds ``parallax`` x image width; or
- too few of the keyframe's features are still tracked (``min_tracked``), so that the
  next keyframe still overlaps this one; or
- ``max_gap`` frames have passed, so no stretch of the shot is left without keyframes;
  short shots get at least ``MIN_COUNT`` keyframes (a map needs a few views to grow from).

The first and the last frame are always keyframes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pycolmap

from .presets import Preset

MIN_TRACKS = 8  # a homography needs 4 points; fewer than this means the track is lost
MIN_COUNT = 8


def parallax(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """Median distance (pixels) of ``points_b`` from ``points_a`` mapped by the best
    homography: the motion no rotation or zoom explains."""
    found = pycolmap.estimate_homography_matrix(points_a, points_b)
    if found is None:
        return float("inf")
    mapped = np.c_[points_a, np.ones(len(points_a))] @ np.asarray(found["H"]).T
    mapped = mapped[:, :2] / mapped[:, 2:]
    return float(np.median(np.linalg.norm(mapped - points_b, axis=1)))


def choose(
    keypoints: Sequence[np.ndarray],
    links: Sequence[np.ndarray],
    width: int,
    preset: Preset,
) -> list[int]:
    """Keyframe indices. ``links[i]`` holds the verified matches (M, 2) of frame i to i+1."""
    count = len(keypoints)
    if count <= 2:
        return list(range(count))
    max_gap = min(preset.max_gap, max(1, (count - 1) // (MIN_COUNT - 1)))
    keyframes = [0]
    tracks = _start(keypoints[0])
    # Tracked in the frame after the keyframe: the base the dwindling tracks compare to.
    first_step: int | None = None
    for j in range(1, count):
        step = dict(zip(links[j - 1][:, 0].tolist(), links[j - 1][:, 1].tolist(), strict=True))
        tracks = {src: step[cur] for src, cur in tracks.items() if cur in step}
        if first_step is None:
            first_step = len(tracks)
        last = keyframes[-1]
        if j == count - 1:
            break
        if len(tracks) < MIN_TRACKS:
            moved = float("inf")
        else:
            src = np.fromiter(tracks.keys(), int)
            cur = np.fromiter(tracks.values(), int)
            moved = parallax(keypoints[last][src], keypoints[j][cur])
        if (
            moved >= preset.parallax * width
            or len(tracks) < preset.min_tracked * max(first_step, 1)
            or j - last >= max_gap
        ):
            keyframes.append(j)
            tracks = _start(keypoints[j])
            first_step = None
    keyframes.append(count - 1)
    return keyframes


def _start(points: np.ndarray) -> dict[int, int]:
    return {i: i for i in range(len(points))}
