"""Realistic faults in the core that once passed the whole suite unnoticed, one test each.

Each test here was checked by putting its fault back into the code (see docs/testing.md):
the cache key without the input digests, the directory swap without its restore, the
chunk cross-fade with its weights reversed, the ZXY gimbal-lock branch with a wrong sign,
and a ``RedactingStream`` that writes what it is given.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from vfx_ingest import atomic, redact
from vfx_ingest.camera.axes import euler_zxy, rotation_zxy
from vfx_ingest.depth.exr import DepthWriter, read_depth, write_depth
from vfx_ingest.depth.stitch import find_chunks, stitch_chunks
from vfx_ingest.io.images import decode_png


def test_another_clip_into_the_same_shot_is_not_cached(cli, clips, tmp_path: Path) -> None:
    """The ingest's cache key covers the source's digest: a different clip put into an
    existing shot is ingested again, and its plate replaces the old one."""
    shot = tmp_path / "shot"
    first, second = clips(frames=3), clips(frames=3, width=80)
    for clip, width in ((first, 64), (second, 80)):
        result = cli("run", clip, "--shot", shot, "--stages", "ingest", "--json")
        assert result.exit_code == 0, result.stderr
        *_, stage = [e for e in cli.json_lines(result.stdout) if e["type"] == "stage"]
        assert stage["status"] == "done"  # not "cached"
        plate = decode_png((shot / "plate" / "plate.1001.png").read_bytes())
        assert plate.shape[1] == width
    again = cli("run", second, "--shot", shot, "--stages", "ingest", "--json")
    *_, stage = [e for e in cli.json_lines(again.stdout) if e["type"] == "stage"]
    assert stage["status"] == "cached"  # the same clip again is


def test_swap_dir_puts_the_old_folder_back_when_the_new_one_cannot_move_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "t"
    new, dest = folder / "new", folder / "dest"
    new.mkdir(parents=True)
    (new / "f").write_text("new")
    dest.mkdir()
    (dest / "old").write_text("old")
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self == new:  # the second rename: the new folder into place
            raise OSError("disk pulled")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk pulled"):
        atomic.swap_dir(new, dest)
    assert (dest / "old").read_text() == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["dest", "new"]


def write_chunk(folder: Path, numbers: range, value: float) -> Path:
    (folder / "depth").mkdir(parents=True)
    attributes = {"vfxingest/values": "metric_depth_m"}
    for number in numbers:
        write_depth(
            folder / "depth" / f"depth.{number:04d}.exr", np.full((2, 3), value), attributes
        )
    return folder


def test_stitch_cross_fades_from_the_earlier_chunk_to_the_later_one(tmp_path: Path) -> None:
    """Two metric chunks (joined without a fit) that disagree on their 5 shared frames:
    the first shared frame is all the earlier chunk, the last all the later one."""
    early = write_chunk(tmp_path / "early", range(1001, 1011), 2.0)
    late = write_chunk(tmp_path / "late", range(1006, 1016), 4.0)
    out = tmp_path / "out"
    out.mkdir()
    writer = DepthWriter(lambda rel: out / rel, {"vfxingest/values": "metric_depth_m"})
    stitch_chunks(find_chunks([late, early]), writer)
    writer.finish(previews=False)
    joined = [float(read_depth(out / f"depth.{n}.exr")[0].mean()) for n in range(1001, 1016)]
    assert joined == pytest.approx([2.0] * 6 + [2.5, 3.0, 3.5] + [4.0] * 6)


@pytest.mark.parametrize("rx", [90.0, -90.0])
@pytest.mark.parametrize(("ry", "rz"), [(30.0, 0.0), (-120.0, 45.0), (10.0, -70.0)])
def test_zxy_angles_of_a_camera_looking_straight_up_or_down(rx: float, ry: float, rz: float):
    """At rx = +-90 degrees only ry -+ rz is defined (gimbal lock): the angles found
    must still rebuild the same rotation."""
    rotation = rotation_zxy(rx, ry, rz)
    (angles,) = euler_zxy(rotation[None])
    np.testing.assert_allclose(rotation_zxy(*angles), rotation, atol=1e-9)


def test_redacting_stream_masks_what_it_writes() -> None:
    url = "https://b.s3.example/k?X-Amz-Signature=0123abcdef&X-Amz-Credential=AKIA"
    inner = io.StringIO()
    stream = redact.RedactingStream(inner)
    line = json.dumps({"input": {"plate": url}}) + "\n"
    assert stream.write(line) == len(line)
    assert "0123abcdef" not in inner.getvalue() and "AKIA" not in inner.getvalue()
    assert "https://b.s3.example/k?***" in inner.getvalue()
