"""A damaged clip (bytes overwritten in its middle, as a bad copy does): the decoder's
concealment is detected, and the run fails naming the frames, or keeps them with
--allow-damaged and records them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from vfx_ingest.frames import frame_set
from vfx_ingest.io.decode import DecodeReport, iter_frames

from conftest import EXAMPLES


def damage(clip: Path, dest: Path) -> Path:
    """``clip`` with 4 KB of random bytes written into its middle."""
    data = bytearray(clip.read_bytes())
    rng = random.Random(1)
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(rng.getrandbits(8) for _ in range(4096))
    dest.write_bytes(bytes(data))
    return dest


def differing_frames(clean: Path, damaged: Path) -> list[int]:
    """Source indices whose decoded pictures differ between the two clips."""
    pairs = zip(iter_frames(clean), iter_frames(damaged), strict=True)
    return [
        a.index
        for a, b in pairs
        if not np.array_equal(
            a.frame.to_ndarray(format="rgb24"), b.frame.to_ndarray(format="rgb24")
        )
    ]


def test_the_frames_reported_damaged_are_the_ones_that_decode_wrong(tmp_path):
    clean = EXAMPLES / "courtyard.mp4"
    damaged = damage(clean, tmp_path / "damaged.mp4")
    report = DecodeReport()
    for _ in iter_frames(damaged, report=report):
        pass
    wrong = differing_frames(clean, damaged)
    assert wrong and report.corrupt
    assert report.damaged() == wrong
    clean_report = DecodeReport()
    for _ in iter_frames(clean, report=clean_report):
        pass
    assert clean_report.damaged() == []


def test_a_damaged_clip_fails_naming_the_frames_or_is_kept_and_recorded(cli, tmp_path):
    clean = EXAMPLES / "courtyard.mp4"
    damaged = damage(clean, tmp_path / "damaged.mp4")
    numbers = frame_set(1001 + i for i in differing_frames(clean, damaged))
    shot = tmp_path / "shot"

    failed = cli("run", damaged, "--shot", shot)
    assert failed.exit_code == 1
    (line,) = failed.stderr.strip().splitlines()[-1:]
    assert "the clip is damaged" in line and numbers in line and "--allow-damaged" in line
    assert not (shot / "plate").exists()  # nothing damaged looks like a finished plate

    kept = cli("run", damaged, "--shot", shot, "--allow-damaged")
    assert kept.exit_code == 0, kept.stderr
    assert f"warning: frames {numbers} come from a damaged clip" in kept.stderr
    manifest = json.loads((shot / "shot.json").read_text())
    assert manifest["frames"]["damaged"] == numbers
    assert manifest["stages"]["ingest"]["stats"]["damaged"] == numbers
    assert manifest["stages"]["ingest"]["stats"]["resumed"] == 96  # the failed run's frames
