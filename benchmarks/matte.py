"""The matte stage against a plain per-frame loop, in the same run, on the same plate and
the same network.

- **ours**: the stage itself (``stages/matte``): plate and masks streamed from disk, the
  trimap's unknown band cut into tiles and only those run through VitMatte, the temporal
  filter over the band, EXRs written as frames finish;
- **plain**: what one writes first: per frame, the whole image (padded to 32) through the
  network with the same trimap, the known regions pasted back, the EXR written. No band
  tiles, no temporal filter, no guided upsampling.

Reported: frames per second (overall, model load included, and steady: after the first
quarter of the frames) and peak memory above the loaded model (CPU: peak RSS, each run in
its own process), for ours at two clip lengths (memory must not grow with the clip) and
for the plain loop (on the first ``--plain-frames`` frames: its cost per frame and its
memory do not depend on the clip's length). The plate: a soft-edged disc (a head-and-shoulders sized
object, radius 30% of the height) moving over a textured background with film grain, and
its roto mask, as PNG frames.

CPU part: the tiny random VitMatte the tests use, 1280x720, 200 frames (ours also at 50).
CUDA part (``--gpu``; not run where no CUDA GPU is present): a full-size random-weight
VitMatte Small layout at 1920x1080.

    python benchmarks/matte.py [--frames 200] [--short 50] [--plain-frames 40] [--gpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' tiny network and synthetic plate

LABEL = "hero"


def write_shot(shot: Path, frames: int, width: int, height: int) -> None:
    from matte_helpers import composite, disc_alpha
    from vfx_ingest.frames import frame_path
    from vfx_ingest.io.images import encode_png

    (shot / "plate").mkdir(parents=True)
    (shot / "roto" / LABEL).mkdir(parents=True)
    for i in range(frames):
        number = 1001 + i
        x = width * 0.35 + (i % 100) * width * 0.003
        alpha = disc_alpha(height, width, x, height * 0.5, height * 0.3)
        plate = composite([alpha], [(0.8, 0.55, 0.45)], grain=i + 1)
        (shot / "plate" / frame_path("plate", number, "png")).write_bytes(encode_png(plate))
        mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
        (shot / "roto" / LABEL / frame_path("roto", number, "png")).write_bytes(encode_png(mask))


def full_size_vitmatte() -> torch.nn.Module:
    """VitMatte Small's layout (ViT-S backbone, 12 blocks, windowed attention) with random
    weights: the real network's cost without its weights."""
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    backbone = VitDetConfig(
        hidden_size=384,
        num_attention_heads=6,
        num_hidden_layers=12,
        mlp_ratio=4,
        num_channels=4,
        image_size=512,
        pretrain_image_size=224,
        patch_size=16,
        window_size=14,
        window_block_indices=[0, 1, 3, 4, 6, 7, 9, 10],
        residual_block_indices=[2, 5, 8, 11],
        use_relative_position_embeddings=True,
        out_features=["stage12"],
    )
    return VitMatteForImageMatting(VitMatteConfig(backbone_config=backbone, hidden_size=384))


def network(kind: str) -> torch.nn.Module:
    from matte_helpers import tiny_vitmatte

    return (tiny_vitmatte() if kind == "tiny" else full_size_vitmatte()).eval()


def plain(
    shot: Path, numbers: list[int], model: torch.nn.Module, device: str, band: int, done: list
) -> None:
    """The plain loop: every frame whole through the network."""
    from vfx_ingest.depth.plates import open_plates
    from vfx_ingest.frames import frame_path
    from vfx_ingest.matte.frames import write_matte
    from vfx_ingest.matte.masks import read_mask
    from vfx_ingest.matte.refine import as_unit
    from vfx_ingest.matte.trimap import UNKNOWN, known_alpha, make_trimap
    from vfx_ingest.matte.vitmatte import network_input, pad_to_divisor

    plates = open_plates(shot / "plate", numbers)
    out = shot / "plain"
    out.mkdir(exist_ok=True)
    size = (plates.height, plates.width)
    with torch.inference_mode():
        for i, number in enumerate(numbers):
            image = torch.from_numpy(as_unit(plates.load(i))).to(device).permute(2, 0, 1)
            mask = torch.from_numpy(read_mask(shot / "roto", LABEL, number, size)).to(device)
            trimap = make_trimap(mask, band)
            batch = pad_to_divisor(network_input(image, trimap)[None])
            alpha = model(pixel_values=batch).alphas[0, 0, : size[0], : size[1]].float()
            alpha = torch.where(trimap == UNKNOWN, alpha, known_alpha(trimap))
            write_matte(out / frame_path("matte", number, "exr"), alpha.cpu().numpy(), {})
            done.append(time.perf_counter())


def ours(
    shot: Path, numbers: list[int], model_dir: Path, device: str, band: int, done: list
) -> dict:
    from vfx_ingest.manifest import FrameInfo, FrameMap
    from vfx_ingest.stages import get_stage
    from vfx_ingest.stages.base import StageContext
    from vfx_ingest.stages.matte import MatteParams

    frames = FrameMap(
        first=numbers[0],
        last=numbers[-1],
        count=len(numbers),
        frame_set=f"{numbers[0]}-{numbers[-1]}",
        width=1,
        height=1,
        fps=Fraction(24),
        frames=[FrameInfo(frame=n, source_index=n - 1001, time=0.0) for n in numbers],
    )
    ctx = StageContext(
        stage="matte",
        shot_root=shot,
        staging=shot / ".staging" / f"ours-{len(numbers)}",
        device=device,
        frames=frames,
        models={"vitmatte-small": model_dir},
        on_progress=lambda count, total, message: done.append(time.perf_counter()),
    )
    return get_stage("matte").run(ctx, MatteParams(trimap_band=band)).stats


def one(args: argparse.Namespace) -> None:
    """A child process: one variant, timed, its peak memory above the loaded model."""
    numbers = list(range(1001, 1001 + args.frames))
    device = "cuda" if args.network == "full" else "cpu"
    model = network(args.network)
    model_dir = args.shot / f"model-{args.network}"
    if args.variant == "ours" and not model_dir.is_dir():
        model.save_pretrained(str(model_dir))
    model = model.to(device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    stats: dict = {}
    done: list[float] = []  # when each frame was written
    if args.variant == "ours":
        stats = ours(args.shot, numbers, model_dir, device, args.band, done)
    else:
        plain(args.shot, numbers, model, device, args.band, done)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    seconds = time.perf_counter() - started
    result = {
        "variant": f"{args.variant}-{args.frames}",
        "seconds": seconds,
        "fps": args.frames / seconds,
        # After the first quarter (model load, first frames): the rate a long clip runs at.
        "steady_fps": (len(done) - 1 - len(done) // 4) / (done[-1] - done[len(done) // 4]),
        "peak_mb": peak / 2**20,
        "network_pixels": stats.get("network_pixels"),
    }
    (args.shot / f"{args.variant}-{args.frames}.json").write_text(json.dumps(result))


def run_child(shot: Path, variant: str, frames: int, band: int, kind: str) -> dict:
    command = [sys.executable, __file__, "--one", variant, "--shot", str(shot)]
    command += ["--frames", str(frames), "--band", str(band), "--network", kind]
    subprocess.run(command, check=True)
    return json.loads((shot / f"{variant}-{frames}.json").read_text())


def compare(
    shot: Path, frames: int, short: int, plain_frames: int, band: int, kind: str, title: str
) -> None:
    from vfx_ingest.matte.frames import read_matte

    results = [
        run_child(shot, "plain", plain_frames, band, kind),
        run_child(shot, "ours", short, band, kind),
        run_child(shot, "ours", frames, band, kind),
    ]
    print(title)
    for r in results:
        print(
            f"  {r['variant']:<10} {r['seconds']:8.1f} s  {r['fps']:6.2f} fps overall  "
            f"{r['steady_fps']:6.2f} fps steady  peak {r['peak_mb']:7.1f} MB"
        )
    base, long_run = results[0], results[2]
    pixels = long_run["network_pixels"] / frames
    width_height = read_matte(next((shot / "plain").glob("*.exr")))[0].shape
    print(
        f"  ours vs plain: {long_run['steady_fps'] / base['steady_fps']:.2f}x steady fps, "
        f"{long_run['peak_mb'] / max(base['peak_mb'], 1e-9):.2f}x peak memory; network "
        f"pixels per frame {pixels:,.0f} vs {width_height[0] * width_height[1]:,}"
    )
    print(
        f"  ours peak memory, {short} -> {frames} frames: "
        f"{results[1]['peak_mb']:.1f} -> {long_run['peak_mb']:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--short", type=int, default=50, help="ours again, a shorter clip")
    parser.add_argument(
        "--plain-frames",
        type=int,
        default=40,
        help="frames of the plate the plain loop runs (its cost per frame and its memory "
        "do not depend on the clip's length; 200 at its speed on 2 CPU cores take 30 min)",
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--band", type=int, default=12)
    parser.add_argument("--gpu", action="store_true", help="also the CUDA part at 1080p")
    parser.add_argument("--one", choices=["ours", "plain"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--network", choices=["tiny", "full"], default="tiny", help=argparse.SUPPRESS
    )
    parser.add_argument("--shot", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.variant = args.one
        one(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "cpu"
        write_shot(shot, args.frames, args.width, args.height)
        title = (
            f"CPU, tiny VitMatte (random weights), {args.frames} frames "
            f"{args.width}x{args.height}, band {args.band} px, fp32"
        )
        compare(shot, args.frames, args.short, args.plain_frames, args.band, "tiny", title)
        if not args.gpu:
            return
        if not torch.cuda.is_available():
            print("CUDA: no CUDA GPU: skipped")
            return
        shot = Path(tmp) / "gpu"
        write_shot(shot, args.frames, 1920, 1080)
        title = (
            f"CUDA ({torch.cuda.get_device_name()}), VitMatte Small layout (random weights), "
            f"{args.frames} frames 1920x1080, band {args.band} px, fp32"
        )
        compare(shot, args.frames, args.short, args.plain_frames, args.band, "full", title)


if __name__ == "__main__":
    main()
