"""A disk that fills up during a run: the record says failed with one line naming the
filesystem that filled, and after space is freed the next run goes on from what was
staged. The real thing: a small tmpfs, mounted in a user namespace (no root needed where
the kernel allows unprivileged user namespaces)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from vfx_ingest import pipeline
from vfx_ingest.config import load_settings
from vfx_ingest.manifest import Manifest
from vfx_ingest.stages.base import StageContext

from conftest import child_env

# Runs the CLI with a frame writer that, before the 6th frame, fills the disk to the last
# byte (a ballast file written until ENOSPC): the frame then meets a real ENOSPC, and so
# does everything written after it (the manifest too, but for the space held for it).
FILL_THEN_RUN = """
import os, sys
from vfx_ingest.stages import base

ballast, args = sys.argv[1], sys.argv[2:]
original = base.StageContext.write_bytes
written = []

def write_bytes(self, pass_name, filename, data):
    written.append(filename)
    if len(written) == 6:
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\\0" * chunk)
            except OSError:
                pass
        os.close(fd)
    original(self, pass_name, filename, data)

base.StageContext.write_bytes = write_bytes
sys.argv = ["vfx-ingest", *args]
from vfx_ingest.cli import main
main()
"""

SCENARIO = """
set -u
mount -t tmpfs -o size=8m tmpfs "$DISK" || exit 97
"$PYTHON" -c "$FILL_THEN_RUN" "$DISK/ballast" run "$CLIP" --shot "$DISK/shot" --workers 1 \\
    2> "$OUT/first.err"
echo $? > "$OUT/first.rc"
cp "$DISK/shot/shot.json" "$OUT/first.json"
ls -a "$DISK/shot" > "$OUT/first.ls"
rm "$DISK/ballast"
"$PYTHON" -m vfx_ingest run "$CLIP" --shot "$DISK/shot" --json > "$OUT/second.json" \\
    2> "$OUT/second.err"
echo $? > "$OUT/second.rc"
"""


def noisy_clip(path: Path, frames: int = 24) -> Path:
    """Frames of noise: PNGs that do not compress (about 230 KB each)."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for _ in range(frames):
            image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_full_disk_is_recorded_named_and_recovered_from(tmp_path):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to mount a small tmpfs; test_disk_full_injected covers it")
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    env = child_env(
        DISK=str(disk),
        OUT=str(out),
        CLIP=str(noisy_clip(tmp_path / "noise.mp4")),
        FILL_THEN_RUN=FILL_THEN_RUN,
        PYTHON=sys.executable,
    )
    done = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", SCENARIO],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode == 97 or (done.returncode != 0 and "unshare" in done.stderr):
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {done.stderr.strip()}")

    (line,) = (out / "first.err").read_text().strip().splitlines()
    assert (out / "first.rc").read_text().strip() == "1"
    assert line.startswith("error: ingest failed: ")
    assert f"the filesystem mounted at {disk} is full" in line and "Free space there" in line
    record = json.loads((out / "first.json").read_text())["stages"]["ingest"]
    assert record["status"] == "failed" and "no space left on device" in record["error"]
    assert ".staging" in (out / "first.ls").read_text().split()

    assert (out / "second.rc").read_text().strip() == "0", (out / "second.err").read_text()
    result = json.loads((out / "second.json").read_text().splitlines()[-1])
    assert result["status"] == "ok"
    assert result["records"][0]["stats"]["resumed"] == 5  # the frames staged before


def test_disk_full_injected(clips, tmp_path, monkeypatch):
    """The same path without a filesystem to fill: the frame writer reports ENOSPC."""
    clip, shot = clips(frames=12), tmp_path / "shot"
    original = StageContext.write_bytes
    written: list[str] = []

    def full(self: StageContext, pass_name: str, filename: str, data: bytes) -> None:
        written.append(filename)
        if len(written) > 4:
            raise OSError(
                errno.ENOSPC, "No space left on device", str(self.output_path(pass_name, filename))
            )
        original(self, pass_name, filename, data)

    monkeypatch.setattr(StageContext, "write_bytes", full)
    request = pipeline.RunRequest(clip=clip, shot=shot, params={"ingest": {"workers": 1}})
    result = pipeline.run(request, load_settings(), lambda e: None)
    assert result.status == "failed"
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert record.status == "failed"
    assert "no space left on device: the filesystem mounted at" in (record.error or "")
    assert str(shot / ".staging") in (record.error or "")

    monkeypatch.setattr(StageContext, "write_bytes", original)
    again = pipeline.run(request, load_settings(), lambda e: None)
    assert again.status == "ok" and again.records[0].stats["resumed"] == 4
