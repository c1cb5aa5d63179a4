"""Depth inference: our streaming estimator against the long-clip scheme run naively, in the
same run, on the same frames and the same network.

- **ours** (``vfx_ingest.depth.inference``): plate frames read from disk a few ahead,
  every frame encoded once (a window's 10 overlap inputs reuse the features an earlier
  window computed), frames written out as soon as they are final;
- **naive**: the reference's way: the whole clip read into memory, every 32-frame window
  run whole through the network (10 of its 32 frames encoded again), every output kept at
  the plate's resolution, aligned at the end.

Both produce the same depth (printed: max difference). Reported: frames per second and
peak memory above the loaded model (CPU: peak RSS, each variant in its own process; CUDA:
``torch.cuda.max_memory_allocated``).

CPU part: the bundled example clip (96 frames, 640x360) as a PNG plate, ``vits`` with
random weights at a small input size (default 98: a 98x168 network input). CUDA part, when
a GPU is present: ``vits`` at 518 (518x924 for 1080p frames), fp16, 128 frames; ours twice,
with as many windows per pass as fit (its default: more memory, on purpose) and with one
(peak memory like for like).

    python benchmarks/depth.py [--frames 96] [--input-size 98] [--repeats 3] [--gpu-frames 128]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "courtyard.mp4"


def random_network(seed: int = 0) -> torch.nn.Module:
    from vfx_ingest.networks.vda import VideoDepthAnything

    torch.manual_seed(seed)
    network = VideoDepthAnything("vits")
    with torch.no_grad():  # default init ends in a ReLU of negatives: lift the last bias
        network.head.scratch.output_conv2[2].bias.fill_(1.0)
    return network.eval()


def write_plate(folder: Path, frames: int) -> list[int]:
    import av

    from vfx_ingest.frames import frame_path
    from vfx_ingest.io.images import encode_png

    folder.mkdir(parents=True, exist_ok=True)
    numbers = []
    with av.open(str(EXAMPLE)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == frames:
                break
            number = 1001 + index
            path = folder / frame_path("plate", number, "png")
            path.write_bytes(encode_png(frame.to_ndarray(format="rgb24")))
            numbers.append(number)
    return numbers


def naive(network, source, input_size: int, device: torch.device, dtype) -> dict[int, np.ndarray]:
    """The reference's procedure: everything in memory, every window run whole."""
    import torch.nn.functional as F

    from vfx_ingest.depth.inference import to_network_input
    from vfx_ingest.depth.sizing import network_size
    from vfx_ingest.depth.windows import WindowAligner, window_frames

    frames = [source.load(i) for i in range(source.count)]
    size = network_size(source.height, source.width, input_size)
    aligner = WindowAligner(source.count)
    out: dict[int, np.ndarray] = {}
    outputs = []
    with torch.inference_mode():
        for start in aligner.window_starts:
            window = to_network_input(
                [frames[i] for i in window_frames(start, source.count)], size, device
            )
            with torch.autocast(
                device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                depth = network(window[None])[0].float()
            depth = F.interpolate(
                depth[:, None],
                size=(source.height, source.width),
                mode="bilinear",
                align_corners=True,
            )
            outputs.append(depth[:, 0].cpu())
        for depth in outputs:
            for frame in aligner.push(depth):
                out[frame.index] = frame.depth.numpy()
    return out


def run_variant(
    variant: str, plate: Path, numbers: list[int], input_size: int, device: str, precision: str
) -> dict:
    from vfx_ingest.depth.inference import DepthEstimator, InferenceOptions, autocast_dtype
    from vfx_ingest.depth.plates import open_plates

    dev = torch.device(device)
    network = random_network().to(dev)
    source = open_plates(plate, numbers)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started, cpu_started = time.perf_counter(), time.process_time()
    # Ours hands each frame on as soon as it is final (the stage writes it to disk): keep
    # only a 1/16 sample of it for the comparison, so as not to measure a copy of the clip.
    if variant.startswith("ours"):
        out: dict[int, np.ndarray] = {}
        batch = 1 if variant == "ours-batch1" else None
        options = InferenceOptions(
            input_size=input_size,
            precision=precision,  # type: ignore[arg-type]
            batch_windows=batch,
        )
        DepthEstimator(network, dev, options).run(
            source, lambda i, d: out.__setitem__(i, d[::4, ::4].copy())
        )
    else:
        full = naive(network, source, input_size, dev, autocast_dtype(precision, dev))  # type: ignore[arg-type]
        out = {i: d[::4, ::4] for i, d in full.items()}
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    sample = np.stack([out[i] for i in range(len(numbers))])
    return {
        "variant": variant,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "fps": len(numbers) / seconds,
        "peak_mb": peak / 2**20,
        "depth": sample,
    }


def cpu_part(args: argparse.Namespace, work: Path) -> None:
    plate = work / "plate"
    numbers = write_plate(plate, args.frames)
    runs: dict[str, list[dict]] = {"naive": [], "ours": []}
    # Alternating, each run in a fresh process (peak RSS is per process); the fastest run
    # of each and its least CPU time are reported (on a shared machine, the least disturbed).
    for _ in range(args.repeats):
        for variant in runs:
            command = [sys.executable, __file__, "--one", variant, "--plate", str(plate)]
            command += ["--input-size", str(args.input_size), "--frames", str(len(numbers))]
            subprocess.run(command, check=True)
            runs[variant].append(json.loads((plate.parent / f"{variant}.json").read_text()))
    results = {
        variant: {
            **min(rs, key=lambda r: r["seconds"]),
            "cpu_seconds": min(r["cpu_seconds"] for r in rs),
        }
        for variant, rs in runs.items()
    }
    ours, base = results["ours"], results["naive"]
    diff = np.abs(np.load(work / "ours.npy") - np.load(work / "naive.npy")).max()
    print(
        f"CPU, vits (random weights), {len(numbers)} frames 640x360, input {args.input_size}, "
        f"fp32, best of {args.repeats}"
    )
    print_rows(ours, base)
    print(f"  max |ours - naive| = {diff:.2e}")


def print_rows(ours: dict, base: dict) -> None:
    for r in (base, ours):
        name, seconds, fps, peak = r["variant"], r["seconds"], r["fps"], r["peak_mb"]
        cpu = r["cpu_seconds"]
        print(
            f"  {name:<11} {seconds:8.2f} s  {fps:7.2f} fps  {cpu:8.2f} CPU s  peak {peak:8.1f} MB"
        )
    speed = ours["fps"] / base["fps"]
    work = base["cpu_seconds"] / ours["cpu_seconds"]
    memory = ours["peak_mb"] / max(base["peak_mb"], 1e-9)
    print(
        f"  {ours['variant']} vs naive: {speed:.2f}x fps, {work:.2f}x less CPU time, "
        f"{memory:.2f}x peak memory"
    )


def gpu_part(args: argparse.Namespace, work: Path) -> None:
    if not torch.cuda.is_available():
        print("CUDA: no CUDA GPU: skipped")
        return
    from vfx_ingest.frames import frame_path
    from vfx_ingest.io.images import encode_png

    plate = work / "gpu-plate"
    plate.mkdir()
    gen = np.random.default_rng(0)
    numbers = list(range(1001, 1001 + args.gpu_frames))
    base_frame = gen.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    for k, number in enumerate(numbers):
        frame = np.roll(base_frame, 4 * k, axis=1)  # a pan: frames differ, cheap to make
        (plate / frame_path("plate", number, "png")).write_bytes(encode_png(frame))
    variants = ("naive", "ours", "ours-batch1")  # ours: as many windows per pass as fit
    results = {v: run_variant(v, plate, numbers, 518, "cuda", "fp16") for v in variants}
    gpu = torch.cuda.get_device_name()
    print(f"CUDA ({gpu}), vits (random weights), {len(numbers)} frames 1920x1080, input 518, fp16")
    print_rows(results["ours"], results["naive"])
    print_rows(results["ours-batch1"], results["naive"])
    diff = np.abs(results["ours"]["depth"] - results["naive"]["depth"]).max()
    print(f"  max |ours - naive| = {diff:.2e} (fp16)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--input-size", type=int, default=98)
    parser.add_argument("--gpu-frames", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="CPU runs of each variant")
    parser.add_argument("--one", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--plate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process of the CPU part
        numbers = list(range(1001, 1001 + args.frames))
        result = run_variant(args.one, args.plate, numbers, args.input_size, "cpu", "fp32")
        np.save(args.plate.parent / f"{args.one}.npy", result.pop("depth"))
        (args.plate.parent / f"{args.one}.json").write_text(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cpu_part(args, Path(tmp))
        gpu_part(args, Path(tmp))


if __name__ == "__main__":
    main()
