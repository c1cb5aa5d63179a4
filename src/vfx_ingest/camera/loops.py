"""Loop-closure candidates: keyframes far apart in time that see the same place.

Sequential matching links each keyframe to the next few; a camera that comes back to a
place it saw earlier (an orbit closing, a walk turning round) must also be matched with
those earlier keyframes, or the map drifts apart there. COLMAP finds such pairs with a
vocabulary tree trained offline; we cannot ship one, so a small bag of visual words is
trained on the shot's own keyframe descriptors (k-means), each keyframe becomes a
tf-idf histogram of words, and the keyframes most similar to a keyframe, outside its
sequential window and at least ``MIN_RELATIVE`` as similar as its own neighbours, become
its candidates. Matching then verifies each candidate geometrically; a wrong one costs a
little matching time and nothing else.
"""

from __future__ import annotations

import numpy as np

WORDS = 256
SAMPLE = 16384
ITERATIONS = 8
MIN_RELATIVE = 0.7


def vocabulary(descriptors: np.ndarray, words: int = WORDS, seed: int = 0) -> np.ndarray:
    """k-means centres (words, D) of L2-normalised descriptors, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    data = _normalised(descriptors)
    if len(data) > SAMPLE:
        data = data[rng.choice(len(data), SAMPLE, replace=False)]
    words = min(words, len(data))
    centres = data[rng.choice(len(data), words, replace=False)].copy()
    for _ in range(ITERATIONS):
        assign = _nearest(data, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, data)
        counts = np.bincount(assign, minlength=words)[:, None]
        centres = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
    return centres


def candidates(
    descriptors: dict[int, np.ndarray], overlap: int, per_keyframe: int
) -> list[tuple[int, int]]:
    """Pairs (a, b) of keys of ``descriptors`` (frame indices of keyframes, in order) that
    are more than ``overlap`` keyframes apart and look alike."""
    keys = sorted(descriptors)
    if per_keyframe <= 0 or len(keys) <= overlap + 1:
        return []
    centres = vocabulary(np.concatenate([descriptors[k] for k in keys]))
    counts = np.stack(
        [
            np.bincount(_nearest(_normalised(descriptors[k]), centres), minlength=len(centres))
            for k in keys
        ]
    ).astype(float)
    idf = np.log(len(keys) / np.maximum((counts > 0).sum(axis=0), 1))
    hist = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) * idf
    hist /= np.maximum(np.linalg.norm(hist, axis=1, keepdims=True), 1e-12)
    similarity = hist @ hist.T
    pairs: set[tuple[int, int]] = set()
    for a in range(len(keys)):
        neighbours = [b for b in (a - 1, a + 1) if 0 <= b < len(keys)]
        floor = MIN_RELATIVE * float(np.mean(similarity[a, neighbours]))
        far = [b for b in range(len(keys)) if abs(a - b) > overlap and similarity[a, b] >= floor]
        far.sort(key=lambda b: -similarity[a, b])
        for b in far[:per_keyframe]:
            pairs.add((keys[min(a, b)], keys[max(a, b)]))
    return sorted(pairs)


def _normalised(descriptors: np.ndarray) -> np.ndarray:
    data = np.asarray(descriptors, np.float32)
    return data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-6)


def _nearest(data: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every centre.
    scores = data @ centres.T * -2.0 + (centres * centres).sum(axis=1)
    return np.argmin(scores, axis=1)
