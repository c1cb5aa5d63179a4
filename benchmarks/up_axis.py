"""How far the camera solve's world up lands from the truth's, over many synthetic shots:
the measurement behind the bound in tests/test_camera_solve.py.

Each seed renders the test's orbit (320x180, 20 frames, a 27-degree arc, 28 mm on a 36 mm
back; the seed lays out the courtyard and its sensor noise), runs
`vfx-ingest run --stages ingest,camera` on it, and measures the up error two ways:

- **aligned**: the solve's +Y through a Sim(3) alignment of the cameras to the truth (what
  the test did first), which adds the alignment's own rotation error;
- **per camera**: the angle between the world's up seen from each solved camera and from
  the true camera (no alignment: the camera frames are the same physical frames), averaged.

    nice -n 15 python benchmarks/up_axis.py [--seeds 8] [--repeat 1]

``--repeat`` solves each seed's clip that many times (same input: what varies is only the
solver's thread scheduling).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# The synthetic renderer is test material (tests/support/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def up_errors(root: Path, seed: int, run: int) -> tuple[float, float, str]:
    from vfx_ingest.camera.accuracy import align
    from vfx_ingest.camera.cameras_json import CamerasDoc

    from support.synthetic import Intrinsics, camera_path, clip_scene, encode_mp4, render_frames

    k = Intrinsics.from_focal(320, 180, 28.0, 36.0)
    scene = clip_scene(k, seed)
    poses = camera_path(
        "orbit", 20, 8, target=scene.target, radius=scene.orbit_radius,
        eye_height=scene.eye_height, seed=seed,
    )  # fmt: skip
    frames = [rgb for rgb, _ in render_frames(scene, poses, k, seed=seed)]
    clip, shot = root / f"orbit-{seed}.mp4", root / f"shot-{seed}-{run}"
    encode_mp4(frames, clip, fps=24)
    command = [sys.executable, "-m", "vfx_ingest", "run", str(clip), "--shot", str(shot)]
    command += ["--stages", "ingest,camera", "--focal-mm", "28", "--sensor-mm", "36", "-q"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    doc = CamerasDoc.load(shot / "camera" / "cameras.json")
    ours = doc.c2w()
    sim = align(ours, poses)
    up = sim.rotation.matrix() @ np.array([0.0, 1.0, 0.0])
    aligned = float(np.degrees(np.arccos(np.clip(up[1], -1, 1))))
    # World up in each camera's own axes: rows of R_c2w^T times +Y = the second row of R.
    seen_ours, seen_truth = ours[:, 1, :3], poses[:, 1, :3]
    cos = np.einsum("ni,ni->n", seen_ours, seen_truth)
    per_camera = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())
    assert doc.solve is not None
    return aligned, per_camera, doc.solve.up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vfx-up-") as tmp:
        for seed, run in ((s, r) for s in range(args.seeds) for r in range(args.repeat)):
            aligned, per_camera, how = up_errors(Path(tmp), seed, run)
            rows.append({"seed": seed, "aligned": aligned, "per_camera": per_camera})
            print(
                f"seed {seed}: aligned {aligned:.2f} deg, per camera {per_camera:.2f} deg ({how})"
            )
            sys.stdout.flush()
    for key in ("aligned", "per_camera"):
        values = np.array([r[key] for r in rows])
        print(f"{key}: mean {values.mean():.2f}, max {values.max():.2f} deg over {len(rows)} seeds")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
