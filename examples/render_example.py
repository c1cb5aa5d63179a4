"""Render the bundled example clip (examples/courtyard.mp4) and its ground-truth cameras.

    PYTHONPATH=src python examples/render_example.py            # rewrites the bundled files
    PYTHONPATH=src python examples/render_example.py --out-dir /tmp/demo --path orbit

The clip is a handheld walk past crates in a sunlit courtyard, 96 frames at 24 fps, 640x360,
with ground truth in the `vfx-ingest.cameras/1` schema next to it (`<name>.camera.json`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

# The synthetic renderer is test material (tests/support/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.synthetic import PATH_KINDS, render_clip

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--out-dir", type=Path, default=HERE, help="where to write (default: %(default)s)"
    )
    p.add_argument("--name", default="courtyard", help="base file name (default: %(default)s)")
    p.add_argument("--path", choices=PATH_KINDS, default="handheld", help="camera move")
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=0, help="set layout, camera path and grain")
    p.add_argument("--focal-mm", type=float, default=28.0, help="on a 36 mm wide sensor")
    p.add_argument("--supersample", type=int, default=2, help="sub-pixels per axis")
    p.add_argument("--crf", type=float, default=16, help="x264 constant rate factor")
    p.add_argument("--still", type=Path, help="also save one frame as PNG here (not bundled)")
    p.add_argument("--still-frame", type=int, default=48, help="0-based index for --still")
    return p.parse_args(argv)


def save_png(rgb: np.ndarray, path: Path) -> None:
    """Write one RGB frame as PNG with PyAV (no imaging library needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))


def decoded_frame(mp4: Path, index: int) -> np.ndarray:
    """Frame `index` of the encoded clip as RGB, decoded with the BT.709 matrix it is tagged."""
    with av.open(str(mp4)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.reformat(
                    format="rgb24",
                    src_colorspace=Colorspace.ITU709,
                    src_color_range=ColorRange.MPEG,
                ).to_ndarray()
    raise IndexError(f"{mp4} has no frame {index}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    mp4 = args.out_dir / f"{args.name}.mp4"
    cam = args.out_dir / f"{args.name}.camera.json"
    start = time.perf_counter()
    gt = render_clip(
        mp4,
        path=args.path,
        frames=args.frames,
        width=args.width,
        height=args.height,
        fps=args.fps,
        seed=args.seed,
        focal_mm=args.focal_mm,
        supersample=args.supersample,
        crf=args.crf,
        camera_json=cam,
    )
    elapsed = time.perf_counter() - start
    travel = np.linalg.norm(np.diff(gt.camera_centres, axis=0), axis=1).sum()
    print(f"wrote {mp4} ({mp4.stat().st_size / 1e6:.2f} MB) and {cam}")
    print(
        f"{len(gt.c2w)} frames ({gt.frame_numbers[0]}-{gt.frame_numbers[-1]}) at {gt.fps:g} fps "
        f"= {len(gt.c2w) / gt.fps:.2f} s, {args.width}x{args.height}, camera travel "
        f"{travel:.2f} m, rendered in {elapsed:.1f} s"
    )
    if args.still is not None:
        save_png(decoded_frame(mp4, args.still_frame), args.still)
        print(f"still of frame {gt.first_frame + args.still_frame} (as encoded) -> {args.still}")


if __name__ == "__main__":
    main()
