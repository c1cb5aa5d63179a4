"""Run Video Depth Anything over a clip of any length, streaming frames in and depth out.

What this adds to the windowed scheme of ``windows``:

- **each frame is encoded once**: a window's 10 overlap inputs are frames an earlier window
  already saw, and the DINOv2 encoder works frame by frame, so their features are kept
  (only those a later window still needs) instead of recomputed: about 30 % less encoder
  work than running every window whole;
- **bounded memory**: frames are read from disk in order, 16 ahead, by a thread pool;
  on the device live only the features still needed, the current windows and their
  outputs; final frames leave for the writer as soon as no later window changes them;
- **device**: ``torch.inference_mode``; on CUDA fp16 autocast (bf16 on request) and
  several windows per pass, as many as fit in memory (halved on out-of-memory); fp32 on
  the CPU; optional ``torch.compile``. The output convolutions stay fp32 (``networks``).

Alignment happens at network resolution, then each final frame is resized (bilinear, as
the reference does) to the plate's size.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import StageFailed
from ..networks.dinov2 import PATCH_SIZE
from ..networks.vda import VideoDepthAnything
from .sizing import DEFAULT_INPUT_SIZE, network_size
from .windows import WINDOW, WindowAligner, window_frames, window_inputs

Precision = Literal["auto", "fp16", "bf16", "fp32"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
READ_AHEAD = 16  # plate frames read ahead of the encoder (host memory: 16 decoded frames)
MAX_BATCH_WINDOWS = 8  # beyond this a GPU is long saturated; more only delays output
VRAM_HEADROOM = 0.75  # share of free device memory the batch size is planned to use

Features = tuple[tuple[Tensor, Tensor], ...]  # per encoder level: (patch tokens, class token)


class FrameSource(Protocol):
    """A clip's frames, read on demand (from thread-pool workers)."""

    count: int
    height: int
    width: int

    def load(self, index: int) -> np.ndarray:
        """RGB ``[H, W, 3]``, display-referred: uint8, uint16, or float in 0..1."""
        ...


EmitFn = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class InferenceOptions:
    input_size: int = DEFAULT_INPUT_SIZE
    precision: Precision = "auto"
    compile: bool = False
    batch_windows: int | None = None  # windows per network pass; None: fit the device
    encode_batch: int = 32  # frames per encoder pass (a window's worth)
    metric: bool = False  # metric models: windows are cross-faded but not rescaled
    loader_threads: int | None = None


@dataclass
class InferenceStats:
    frames: int = 0
    windows: int = 0
    encoded_frames: int = 0
    resumed_frames: int = 0  # written by an interrupted run this one went on from
    network_size: tuple[int, int] = (0, 0)
    precision: str = "fp32"
    batch_windows: int = 1
    seconds: float = 0.0
    peak_vram_gb: float | None = None
    scales: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["network_size"] = f"{self.network_size[1]}x{self.network_size[0]}"
        data["fps"] = round(self.frames / self.seconds, 3) if self.seconds else None
        data["scales"] = [round(s, 6) for s in self.scales]
        return data


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32 (the CPU default)."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "bf16":
        return torch.bfloat16
    return torch.float16


def prefetch(
    load: Callable[[int], np.ndarray], indices: list[int], threads: int, ahead: int
) -> Iterator[np.ndarray]:
    """``load(i)`` for each of ``indices``, in order, with up to ``ahead`` frames read (or
    being read) beyond the one handed out."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix="depth-read")
    queue: deque[Future[np.ndarray]] = deque()
    try:
        for index in indices:
            queue.append(pool.submit(load, index))
            if len(queue) <= ahead:
                continue
            yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
    finally:  # also when the consumer stops early (an error, a cancel)
        pool.shutdown(wait=True, cancel_futures=True)


def to_network_input(
    frames: list[np.ndarray], size: tuple[int, int], device: torch.device
) -> Tensor:
    """Frames -> normalised float32 ``[N, 3, h, w]`` on ``device``: bicubic resize (as the
    checkpoints were evaluated), then ImageNet mean/std. Integer frames travel as integers
    (2-4x less to copy) and become floats on the device."""
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(frames))).to(device)
    if batch.dtype == torch.uint8:
        x = batch.float() / 255.0
    elif batch.dtype == torch.uint16:
        x = batch.float() / 65535.0
    else:
        x = batch.float()
    x = x.permute(0, 3, 1, 2)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class DepthEstimator:
    """A loaded network on a device, ready to run clips."""

    def __init__(
        self,
        network: VideoDepthAnything,
        device: str | torch.device = "cpu",
        options: InferenceOptions | None = None,
    ) -> None:
        self.options = options or InferenceOptions()
        self.device = torch.device(device)
        self.network = network.eval().to(self.device)
        self.dtype = autocast_dtype(self.options.precision, self.device)
        self.encode = network.encode
        self.decode = network.decode
        if self.options.compile:
            self.encode = torch.compile(network.encode)
            self.decode = torch.compile(network.decode)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]

    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None
        )

    def run(
        self,
        source: FrameSource,
        emit: EmitFn,
        progress: Callable[[int, int], None] | None = None,
        *,
        first: int = 0,
        last: int | None = None,
        resume: dict[str, Any] | None = None,
        checkpoint: Callable[[WindowAligner, float], None] | None = None,
    ) -> InferenceStats:
        """Predict frames ``first``..``last`` (default: all) of ``source``;
        ``emit(index, depth [H, W] float32)`` is called once per frame, in order, as soon as
        the frame is final. A sub-range (a chunk) runs the whole clip's windows that reach
        it, reading the keyframes they need from outside it. ``resume``: an aligner state
        saved by an interrupted run, which then goes on from its next window (see
        ``resume``); ``checkpoint(aligner, now)`` is offered the state after each pass."""
        started = time.perf_counter()
        count = source.count
        size = network_size(source.height, source.width, self.options.input_size)
        grid = (size[0] // PATCH_SIZE, size[1] // PATCH_SIZE)
        aligner = WindowAligner(count, metric=self.options.metric, first=first, last=last)
        assert aligner.last is not None
        total = aligner.last - first + 1
        starts = aligner.window_starts
        if resume is not None:
            aligner.restore(resume, self.device)
        window = aligner.done
        needed = window_inputs(count, aligner.windows[window:])
        stats = InferenceStats(
            frames=total,
            windows=len(starts),
            network_size=size,
            precision=self.precision,
            resumed_frames=aligner.emitted - first,
        )
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
            base_memory = torch.cuda.memory_allocated(self.device)
        threads = self.options.loader_threads or min(8, len(os.sched_getaffinity(0)))
        # Reading overlaps the network's work; bounded, for large plates.
        frames = prefetch(source.load, needed, threads, ahead=READ_AHEAD)
        cache: dict[int, Features] = {}
        batch = self.options.batch_windows or 1
        passes = 0
        with torch.inference_mode(), closing(frames):
            while window < len(starts):
                group = starts[window : window + batch]
                wanted = [window_frames(s, count) for s in group]
                upto = max(max(w) for w in wanted)
                self._encode(needed, upto, frames, cache, size, stats)
                try:
                    depth = self._decode(wanted, cache, grid)
                except torch.cuda.OutOfMemoryError as exc:
                    if batch == 1:
                        raise StageFailed(
                            f"out of GPU memory on one {WINDOW}-frame window at "
                            f"{size[1]}x{size[0]}",
                            fix="Use a smaller --depth-size, or a GPU with more memory",
                        ) from exc
                    batch = max(1, batch // 2)
                    torch.cuda.empty_cache()
                    continue
                for k in range(len(group)):
                    finals = list(aligner.push(depth[k]))
                    self._emit(finals, (source.height, source.width), emit)
                    if progress is not None and finals:
                        progress(finals[-1].index - first + 1, total)
                window += len(group)
                passes += 1
                stats.batch_windows = max(stats.batch_windows, len(group))
                if checkpoint is not None:
                    checkpoint(aligner, time.perf_counter())
                if window < len(starts):
                    # Later windows need the clip's first frame, one far keyframe and
                    # frames from 2 past their start on.
                    next_start = starts[window]
                    keep = {0, window_frames(next_start, count)[1]}
                    for index in [i for i in cache if i not in keep and i < next_start + 2]:
                        del cache[index]
                    if cuda and self.options.batch_windows is None and passes == 1:
                        batch = self._fit_batch(base_memory)
        stats.scales = [a.scale for a in aligner.affines]
        stats.seconds = time.perf_counter() - started
        if cuda:
            stats.peak_vram_gb = torch.cuda.max_memory_allocated(self.device) / 2**30
        return stats

    def _encode(
        self,
        needed: list[int],
        upto: int,
        frames: Iterator[np.ndarray],
        cache: dict[int, Features],
        size: tuple[int, int],
        stats: InferenceStats,
    ) -> None:
        """Encode the needed clip frames up to ``upto``. ``frames`` yields exactly the
        frames of ``needed``, in order, so each is read and encoded once."""
        while stats.encoded_frames < len(needed) and needed[stats.encoded_frames] <= upto:
            done = stats.encoded_frames
            batch = [i for i in needed[done : done + self.options.encode_batch] if i <= upto]
            x = to_network_input([next(frames) for _ in batch], size, self.device)
            with self._autocast():
                levels = self.encode(x)
            for j, index in enumerate(batch):
                # Cloned per frame so that evicting a frame frees its memory.
                cache[index] = tuple((p[j].clone(), c[j].clone()) for p, c in levels)
            stats.encoded_frames += len(batch)

    def _decode(
        self, wanted: list[list[int]], cache: dict[int, Features], grid: tuple[int, int]
    ) -> Tensor:
        """Raw predictions ``[windows, 32, h, w]`` (float32) of the given windows."""
        order = [i for frames in wanted for i in frames]
        levels = len(cache[order[0]])
        features = [
            (
                torch.stack([cache[i][level][0] for i in order]),
                torch.stack([cache[i][level][1] for i in order]),
            )
            for level in range(levels)
        ]
        with self._autocast():
            depth = self.decode(features, grid, WINDOW)
        return depth.float().reshape(len(wanted), WINDOW, *depth.shape[-2:])

    def _emit(self, finals: list, plate_size: tuple[int, int], emit: EmitFn) -> None:
        if not finals:
            return
        stacked = torch.stack([f.depth for f in finals]).unsqueeze(1)
        if tuple(stacked.shape[-2:]) != plate_size:
            stacked = F.interpolate(stacked, size=plate_size, mode="bilinear", align_corners=True)
        out = stacked[:, 0].cpu().numpy()
        for frame, depth in zip(finals, out, strict=True):
            emit(frame.index, depth)

    def _fit_batch(self, base_memory: int) -> int:
        """Windows per pass that fit in the device's free memory, from the first pass's peak."""
        per_window = torch.cuda.max_memory_allocated(self.device) - base_memory
        free, _total = torch.cuda.mem_get_info(self.device)
        reusable = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(
            self.device
        )
        fits = int(VRAM_HEADROOM * (free + reusable) // max(per_window, 1))
        return max(1, min(MAX_BATCH_WINDOWS, fits))
