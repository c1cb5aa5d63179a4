"""Tests written to kill the mutants of the core that the suite let live
(``benchmarks/mutation.py``; the survivors left are listed in docs/testing.md with the
reason each is equivalent). Each says which fault it catches."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from vfx_ingest.errors import BadInput
from vfx_ingest.job import object_key
from vfx_ingest.manifest import FrameInfo, FrameMap, SourceProbe
from vfx_ingest.paths import safe_join


def test_object_keys_follow_the_documented_layout() -> None:
    """Client and worker of different versions meet on this layout (a volume's paths)."""
    digest = "ab" + "c" * 62
    assert object_key("vfx-ingest/cas/", digest) == f"vfx-ingest/cas/ab/{digest}"


@pytest.mark.parametrize("relpath", ["a/../b", "", "./a", "a//b"])
def test_safe_join_refuses_unclean_paths_that_stay_inside(tmp_path: Path, relpath: str) -> None:
    """``a/../b`` resolves inside the root, so only the text check refuses it."""
    (tmp_path / "a").mkdir()
    with pytest.raises(BadInput, match="refused"):
        safe_join(tmp_path, relpath)


def test_float_frame_rates_become_the_nearest_broadcast_fraction() -> None:
    """An fps given as a float (23.976...) is stored as 24000/1001, not as the float's
    binary expansion, so frame times and timecode stay exact."""
    frames = FrameMap(
        first=1001, last=1001, count=1, frame_set="1001", width=2, height=2,
        fps=24000 / 1001, frames=[FrameInfo(frame=1001, source_index=0, time=0.0)],
    )  # fmt: skip
    assert frames.fps == Fraction(24000, 1001)
    assert json.loads(frames.model_dump_json())["fps"] == "24000/1001"
    assert FrameMap.model_validate({**frames.model_dump(), "fps": 29.97}).fps == Fraction(2997, 100)


def test_a_probe_recorded_without_the_newer_fields_reads_as_constant_rate() -> None:
    probe = SourceProbe(
        container="mov", codec="h264", width=64, height=48, display_width=64,
        display_height=48, pix_fmt="yuv420p", bit_depth=8, frame_rate=24, frame_count=3,
        duration=0.125,
    )  # fmt: skip
    assert probe.variable_frame_rate is False and probe.rotation == 0
