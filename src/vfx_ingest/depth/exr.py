"""Depth frames on disk: float32 EXRs saying what their values are, and PNG previews.

``depth/depth.1001.exr``: float32 channel ``Z`` (the channel compositors read depth from)
and the same values in ``Y``, ZIP-compressed. ``Y`` is for viewers: Blender's EXR loader
shows a single-layer file's R/G/B, or X/Y/Z, or luminance ``Y``, and a lone ``Z`` as
black; with ``Y`` it shows the depth as grey. Header attributes:

- ``vfxingest/values``: ``relative_disparity`` (VDA's relative models: affine-invariant
  inverse depth, larger is nearer, no unit) or ``metric_depth_m`` (metric models: depth
  in metres, larger is farther). Never read a disparity pass as depth;
- ``vfxingest/model``, ``vfxingest/model_license``: which weights made it;
- ``vfxingest/normalisation``: the input normalisation and network resolution used;
- ``vfxingest/alignment``: what the values' scale and shift refer to.

``depth/preview/depth.1001.png`` (``--preview``): 16-bit greyscale, near bright, normalised
over the whole shot (min to max), so previews of one shot compare frame to frame.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..frames import frame_path
from .models import DepthModel, Values

PASS = "depth"
PREVIEW_DIR = "preview"
ATTR_PREFIX = "vfxingest/"
VALUES_ATTR = "vfxingest/values"
MODEL_ATTR = "vfxingest/model"
LICENSE_ATTR = "vfxingest/model_license"
NORMALISATION_ATTR = "vfxingest/normalisation"
ALIGNMENT_ATTR = "vfxingest/alignment"


def depth_name(number: int) -> str:
    return frame_path(PASS, number, "exr")


def preview_name(number: int) -> str:
    return f"{PREVIEW_DIR}/{frame_path(PASS, number, 'png')}"


def depth_attributes(model: DepthModel, network_size: tuple[int, int]) -> dict[str, str]:
    height, width = network_size
    alignment = (
        "none: metres as predicted; windows cross-faded"
        if model.metric
        else "affine-invariant; every window's (and chunk's) scale and shift fitted by least "
        "squares to the clip's first window"
    )
    return {
        VALUES_ATTR: model.values,
        MODEL_ATTR: model.id,
        LICENSE_ATTR: model.license,
        NORMALISATION_ATTR: f"display-referred RGB 0..1, bicubic to {width}x{height}, "
        "ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225)",
        ALIGNMENT_ATTR: alignment,
    }


def write_depth(path: Path, depth: np.ndarray, attributes: dict[str, str]) -> None:
    from ..io.images import write_exr

    values = np.asarray(depth, np.float32)
    with atomic.target(path) as tmp:
        write_exr(tmp, {"Y": values, "Z": values}, attributes=attributes)


def read_depth(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """The ``Z`` channel (float32) and the ``vfxingest/*`` attributes of a depth EXR."""
    from ..io.images import read_exr

    channels, header = read_exr(path)
    ours = {k: str(v) for k, v in header.items() if k.startswith(ATTR_PREFIX)}
    return np.asarray(channels["Z"], np.float32), ours


def preview_png(depth: np.ndarray, low: float, high: float, values: Values) -> bytes:
    """16-bit greyscale, near bright: disparity as is, metric depth inverted."""
    from ..io.images import encode_png

    span = high - low if high > low else 1.0
    unit = (np.asarray(depth, np.float64) - low) / span
    if values == "metric_depth_m":
        unit = 1.0 - unit
    return encode_png(np.round(np.clip(unit, 0.0, 1.0) * 65535.0).astype(np.uint16))


class DepthWriter:
    """Writes depth EXRs on a small thread pool while the network works; tracks the shot's
    value range for previews. ``target(relpath)`` gives the final path of an output inside
    the depth pass (the stage's staging)."""

    def __init__(
        self,
        target: Callable[[str], Path],
        attributes: dict[str, str],
        *,
        threads: int = 2,
    ) -> None:
        self.target = target
        self.attributes = attributes
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="depth-write")
        self.pending: deque[Future[None]] = deque()
        self.limit = 2 * threads
        self.numbers: list[int] = []
        self.low = float("inf")
        self.high = float("-inf")
        self._lock = threading.Lock()

    def write(self, number: int, depth: np.ndarray) -> None:
        # Bounded queue: a slow disk holds the network back instead of filling memory.
        while len(self.pending) >= self.limit:
            self.pending.popleft().result()
        self.numbers.append(number)
        finite = depth[np.isfinite(depth)]
        if finite.size:
            self.low = min(self.low, float(finite.min()))
            self.high = max(self.high, float(finite.max()))
        self.pending.append(
            self.pool.submit(write_depth, self.target(depth_name(number)), depth, self.attributes)
        )

    def drain(self) -> None:
        """Wait for every write so far (a checkpoint may then count those frames done)."""
        while self.pending:
            self.pending.popleft().result()

    def state(self) -> dict[str, Any]:
        """The frames written and their value range: what previews need after a resume."""
        return {"numbers": list(self.numbers), "low": self.low, "high": self.high}

    def restore(self, state: dict[str, Any]) -> None:
        self.numbers = list(state["numbers"])
        self.low, self.high = state["low"], state["high"]

    def finish(self, *, previews: bool) -> None:
        """Wait for every write; then, if asked, write the previews (reading the EXRs back,
        so memory never holds the shot)."""
        try:
            self.drain()
            if previews:
                values = self.attributes[VALUES_ATTR]
                for future in [
                    self.pool.submit(self._preview, number, values) for number in self.numbers
                ]:
                    future.result()
        finally:
            self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _preview(self, number: int, values: str) -> None:
        depth, _ = read_depth(self.target(depth_name(number)))
        data = preview_png(depth, self.low, self.high, values)  # type: ignore[arg-type]
        path = self.target(preview_name(number))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
