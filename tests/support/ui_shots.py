"""Small shot folders for the dashboard's tests and benchmark, written directly.

A shot here has every pass the UI shows, made without running the heavy stages: plates
(a different image per frame), a depth pass written with the project's EXR writer, a roto
mask and a matte per frame, and the bundled example's ground-truth cameras as its
``camera/cameras.json``. The manifest's records are built from the files as the pipeline
builds them (digests, cache inputs), so ``status`` calls the passes fresh.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from vfx_ingest import atomic
from vfx_ingest.cache import input_digests
from vfx_ingest.depth.exr import VALUES_ATTR, write_depth
from vfx_ingest.digest import file_digest, tree_digest
from vfx_ingest.frames import frame_path, frame_set
from vfx_ingest.io.images import encode_png, write_exr
from vfx_ingest.manifest import (
    FrameInfo,
    FrameMap,
    Manifest,
    SourceFile,
    SourceProbe,
    StageRecord,
    utcnow,
)
from vfx_ingest.shot import ShotFolder
from vfx_ingest.stages import REGISTRY

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CAMERAS = REPO / "examples" / "courtyard.camera.json"
FIRST = 1001


def plate_image(index: int, width: int, height: int) -> np.ndarray:
    """A gradient with a bar whose position tells the frame."""
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    image = np.concatenate(
        [np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
         np.full((height, width, 1), 60.0)], axis=2,
    ).astype(np.uint8)  # fmt: skip
    column = (index * 7) % max(width - 8, 1)
    image[:, column : column + 8] = 255
    return image


def make_shot(
    folder: Path,
    *,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    fps: int = 24,
    passes: tuple[str, ...] = ("plate", "depth", "roto", "matte", "camera"),
) -> Path:
    """Write a shot folder with ``passes`` and its manifest; return the folder."""
    shot = ShotFolder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    numbers = list(range(FIRST, FIRST + frames))
    source = folder.parent / f"{folder.name}.source.bin"
    source.write_bytes(b"stands in for the clip: the UI reads its probe, never the file")
    manifest = Manifest(tool_version="test")
    manifest.source = SourceFile(
        path=str(source),
        digest=file_digest(source),
        probe=SourceProbe(
            container="mov,mp4", codec="h264", width=width, height=height,
            display_width=width, display_height=height, pix_fmt="yuv420p", bit_depth=8,
            frame_rate=Fraction(fps), frame_count=frames, duration=frames / fps,
        ),
    )  # fmt: skip
    manifest.frames = FrameMap(
        first=FIRST, last=numbers[-1], count=frames, frame_set=frame_set(numbers),
        width=width, height=height, fps=Fraction(fps),
        frames=[FrameInfo(frame=n, source_index=i, time=i / fps) for i, n in enumerate(numbers)],
    )  # fmt: skip
    writers = {
        "plate": ("ingest", _plates),
        "depth": ("depth", _depth),
        "roto": ("roto", _roto),
        "matte": ("matte", _matte),
        "camera": ("camera", _camera),
    }
    for name in passes:
        stage, write = writers[name]
        written = write(folder, numbers, width, height)
        if stage in REGISTRY:
            _record(manifest, folder, stage, written)
    shot.save_manifest(manifest)
    return folder


def _record(manifest: Manifest, folder: Path, stage: str, written: list[Path]) -> None:
    outputs = {p.relative_to(folder).as_posix(): file_digest(p) for p in written}
    inputs = input_digests(REGISTRY[stage], manifest) or {}
    manifest.stages[stage] = StageRecord(
        stage=stage, version=REGISTRY[stage].version, status="done", params={},
        cache_key=f"test-{stage}", inputs=inputs, outputs=outputs,
        output_digest=tree_digest(outputs), frames=manifest.frames.frame_set,
        finished_at=utcnow(), wall_s=1.5, cost_usd=0.0,
    )  # fmt: skip


def _plates(folder: Path, numbers: list[int], width: int, height: int) -> list[Path]:
    out = []
    for i, n in enumerate(numbers):
        path = folder / "plate" / frame_path("plate", n, "png")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, encode_png(plate_image(i, width, height)))
        out.append(path)
    return out


def _depth(folder: Path, numbers: list[int], width: int, height: int) -> list[Path]:
    out = []
    ramp = np.linspace(0.1, 1.0, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    for i, n in enumerate(numbers):
        path = folder / "depth" / frame_path("depth", n, "exr")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_depth(path, ramp * (1 + 0.05 * i), {VALUES_ATTR: "relative_disparity"})
        out.append(path)
    return out


def _disc(i: int, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    cx = width * (0.3 + 0.4 * (i % 5) / 4)
    return ((xx - cx) ** 2 + (yy - height / 2) ** 2) < (min(width, height) / 4) ** 2


def _roto(folder: Path, numbers: list[int], width: int, height: int) -> list[Path]:
    out = []
    for i, n in enumerate(numbers):
        path = folder / "roto" / "person" / frame_path("roto", n, "png")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, encode_png((_disc(i, width, height) * 255).astype(np.uint8)))
        out.append(path)
    (folder / "roto" / "objects.json").write_text(json.dumps({"objects": [{"label": "person"}]}))
    return out


def _matte(folder: Path, numbers: list[int], width: int, height: int) -> list[Path]:
    out = []
    for i, n in enumerate(numbers):
        path = folder / "matte" / "person" / frame_path("matte", n, "exr")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_exr(path, {"A": _disc(i, width, height).astype(np.float16)})
        out.append(path)
    return out


def _camera(folder: Path, numbers: list[int], width: int, height: int) -> list[Path]:
    path = folder / "camera" / "cameras.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CAMERAS.read_text())
    (folder / "camera" / "camera.chan").write_text("1001 0 0 0 0 0 0 40\n")
    return [path, folder / "camera" / "camera.chan"]


class Served:
    """The dashboard on a real uvicorn on 127.0.0.1 (a free port), in a thread; stopped
    (and its runs cancelled) on exit."""

    def __init__(self, roots: list[Path], token: str = "test-token", **kwargs: object) -> None:
        from vfx_ingest.ui.app import create_app

        self.token = token
        self.app = create_app(roots, token=token, hosts={"127.0.0.1"}, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> Served:
        import threading
        import time

        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the UI server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def session_processes(pid: int) -> list[int]:
    """Processes still alive in the session a run's process led (its children too)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the ")": state, ppid, pgrp, session ...; zombies are already gone in effect.
        if int(fields[3]) == pid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive
