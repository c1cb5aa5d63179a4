"""Match chosen image pairs with pycolmap and read the verified matches back.

We build the pair lists ourselves (consecutive frames, keyframe windows, loop candidates)
and hand them to ``pycolmap.match_image_pairs``, which matches SIFT descriptors and
verifies each pair geometrically. Pairs already in the database (a resumed run) are
skipped by COLMAP itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pycolmap

from .features import sift_device


def match_pairs(database: Path, pairs: Iterable[tuple[str, str]], work: Path, tag: str) -> int:
    """Match and verify ``pairs`` of image names; return how many pairs were asked for."""
    unique = sorted({(a, b) if a < b else (b, a) for a, b in pairs if a != b})
    if not unique:
        return 0
    listing = work / f"pairs-{tag}.txt"
    listing.write_text("".join(f"{a} {b}\n" for a, b in unique))
    pairing = pycolmap.ImportedPairingOptions()
    pairing.match_list_path = listing
    matching = pycolmap.FeatureMatchingOptions()
    matching.use_gpu = pycolmap.has_cuda
    pycolmap.match_image_pairs(
        database, matching_options=matching, pairing_options=pairing, device=sift_device()
    )
    return len(unique)


class Features:
    """Keypoints, descriptors and verified matches of the shot's frames, by frame index."""

    def __init__(self, database: Path, names: list[str]) -> None:
        self.database = database
        self.names = names
        db = pycolmap.Database.open(database)
        try:
            by_name = {image.name: int(image.image_id) for image in db.read_all_images()}
            self.image_ids = [by_name[name] for name in names]
            self.keypoints = [db.read_keypoints(i)[:, :2].astype(float) for i in self.image_ids]
        finally:
            db.close()

    def descriptors(self, indices: Iterable[int]) -> dict[int, np.ndarray]:
        db = pycolmap.Database.open(self.database)
        try:
            return {i: np.asarray(db.read_descriptors(self.image_ids[i]).data) for i in indices}
        finally:
            db.close()

    def inlier_matches(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
        """Verified matches (M, 2) of feature indices for each (i, j) pair of frame indices."""
        db = pycolmap.Database.open(self.database)
        try:
            out: dict[tuple[int, int], np.ndarray] = {}
            for i, j in pairs:
                a, b = self.image_ids[i], self.image_ids[j]
                matches = np.zeros((0, 2), int)
                if db.exists_two_view_geometry(a, b):
                    found = db.read_two_view_geometry(a, b).inlier_matches
                    if found is not None and len(found):
                        matches = np.asarray(found, int)
                out[(i, j)] = matches
            return out
        finally:
            db.close()

    def verified_pairs(self) -> int:
        db = pycolmap.Database.open(self.database)
        try:
            return int(db.num_verified_image_pairs())
        finally:
            db.close()
