"""Proxies and thumbnails: small JPEGs made once per source frame, kept in ``<shot>/.ui/``.

A proxy is remade only when its source is newer than it (one stat of each), so a shot's
flipbook decodes each plate, depth or mask frame once. Depth is colour-mapped over the
whole shot's value range (near warm, far cool), computed once and stored with the source
folder's state, so frames compare with each other and the page can show the range.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from .. import atomic
from ..io.images import decode_png, read_exr
from . import shots
from .roots import UI_DIR
from .shots import PassFrames, frame_file

PROXY_WIDTH = 640
THUMB_WIDTH = 192
JPEG_QUALITY = 85
# Depth colours from far to near: a perceptually ordered ramp (dark blue to pale yellow).
RAMP = np.array(
    [[13, 8, 135], [84, 2, 163], [156, 23, 158], [205, 73, 117], [237, 121, 83], [240, 249, 33]],
    np.float64,
)
ROTO_TINT = np.array([255, 64, 64], np.float64)

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(path: Path) -> threading.Lock:
    # Two browser requests for one proxy make it once.
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def cache_dir(shot: Path) -> Path:
    return shot / UI_DIR


def proxy(shot: Path, layer: PassFrames, number: int, *, plate: PassFrames | None) -> Path | None:
    """The proxy JPEG of one frame of ``layer`` (made now if missing or older than its
    source); None when the frame has no file. ``plate`` is what roto masks lay over."""
    source = frame_file(shot, layer, number)
    if source is None:
        return None
    name = layer.key.replace(":", "-")
    target = cache_dir(shot) / "proxy" / name / f"{number}.jpg"
    if _fresh(target, source):
        return target
    with _lock(target):
        if not _fresh(target, source):
            image = _render(shot, layer, source, number, plate)
            _write_jpeg(target, _fit(image, PROXY_WIDTH))
    return target


def thumbnail(shot: Path, plate: PassFrames | None) -> Path | None:
    """The shot's thumbnail: its middle plate frame, small."""
    if plate is None or not plate.frames:
        return None
    number = plate.frames[len(plate.frames) // 2]
    source = frame_file(shot, plate, number)
    if source is None:
        return None
    target = cache_dir(shot) / "thumb.jpg"
    if _fresh(target, source):
        return target
    with _lock(target):
        if not _fresh(target, source):
            _write_jpeg(target, _fit(read_plate(source), THUMB_WIDTH))
    return target


def depth_range(shot: Path) -> tuple[float, float, str]:
    """(low, high, values) of the whole depth pass, computed once per state of the pass."""
    folder = shot / "depth"
    stamp = _folder_stamp(folder)
    target = cache_dir(shot) / "depth-range.json"
    try:
        saved = json.loads(target.read_text())
        if saved["stamp"] == stamp:
            return saved["low"], saved["high"], saved["values"]
    except (OSError, ValueError, KeyError):
        pass
    low, high, values = float("inf"), float("-inf"), "relative_disparity"
    layer = shots.layer(shot, "depth", frames=True)
    for number in layer.frames if layer is not None else []:
        source = frame_file(shot, layer, number)
        if source is None:
            continue
        channels, header = read_exr(source)
        z = np.asarray(channels["Z"], np.float32)
        finite = z[np.isfinite(z)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        values = str(header.get("vfxingest/values", values))
    if low > high:
        low, high = 0.0, 1.0
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(
        target, json.dumps({"stamp": stamp, "low": low, "high": high, "values": values})
    )
    return low, high, values


def read_plate(path: Path) -> np.ndarray:
    """A plate frame as 8-bit RGB for display (EXR plates are linear: sRGB-encoded here)."""
    if path.suffix == ".exr":
        channels, _ = read_exr(path)
        linear = np.clip(np.asarray(channels["RGB"], np.float64), 0.0, 1.0)
        encoded = np.where(
            linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055
        )
        return np.round(encoded * 255).astype(np.uint8)
    image = decode_png(path.read_bytes())
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def colour_map(unit: np.ndarray) -> np.ndarray:
    """0..1 (far..near) to RGB along ``RAMP``."""
    position = np.clip(unit, 0.0, 1.0) * (len(RAMP) - 1)
    stops = np.arange(len(RAMP))
    rgb = [np.interp(position, stops, RAMP[:, c]) for c in range(3)]
    return np.round(np.stack(rgb, axis=-1)).astype(np.uint8)


def _render(
    shot: Path, layer: PassFrames, source: Path, number: int, plate: PassFrames | None
) -> np.ndarray:
    if layer.pass_name == "plate":
        return read_plate(source)
    if layer.pass_name == "depth":
        low, high, values = depth_range(shot)
        channels, _ = read_exr(source)
        z = np.nan_to_num(np.asarray(channels["Z"], np.float64), nan=low)
        unit = (z - low) / (high - low if high > low else 1.0)
        # Near is warm: disparity grows towards the camera, metric depth away from it.
        return colour_map(1.0 - unit if values == "metric_depth_m" else unit)
    if layer.pass_name == "matte":
        channels, _ = read_exr(source)
        alpha = np.clip(np.asarray(channels["A"], np.float64), 0.0, 1.0)
        grey = np.round(alpha * 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    # roto: the mask tinted over its plate frame (or over black without one)
    mask = decode_png(source.read_bytes()).astype(np.float64)
    mask = (mask if mask.ndim == 2 else mask[:, :, 0]) / (65535.0 if mask.max() > 255 else 255.0)
    plate_file = frame_file(shot, plate, number) if plate is not None else None
    base = (
        read_plate(plate_file).astype(np.float64)
        if plate_file is not None
        else np.zeros((*mask.shape, 3))
    )
    if base.shape[:2] != mask.shape:
        base = _resize(base, mask.shape[1], mask.shape[0])
    alpha = 0.55 * mask[:, :, None]
    return np.round(base * (1 - alpha) + ROTO_TINT * alpha).astype(np.uint8)


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] <= width:
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return _resize(image, width, height)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-sample resize: proxies are for looking, not for measuring."""
    rows = (np.arange(height) * image.shape[0] / height).astype(int)
    cols = (np.arange(width) * image.shape[1] / width).astype(int)
    return image[rows][:, cols]


def _write_jpeg(target: Path, image: np.ndarray) -> None:
    import imagecodecs

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(
        target, imagecodecs.jpeg8_encode(np.ascontiguousarray(image), level=JPEG_QUALITY)
    )


def _fresh(target: Path, source: Path) -> bool:
    try:
        return target.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except OSError:
        return False


def _folder_stamp(folder: Path) -> list[int]:
    """Changes when a file of the folder is added, removed or rewritten."""
    stats = [e.stat() for e in os.scandir(folder) if e.is_file()]
    return [
        len(stats),
        max((s.st_mtime_ns for s in stats), default=0),
        sum(s.st_size for s in stats),
    ]
