"""Tests written to kill the mutants of the core that the suite let live
(``benchmarks/mutation.py``; the survivors left are listed in docs/testing.md with the
reason each is equivalent). Each says which fault it catches."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx_ingest import atomic, cache, redact
from vfx_ingest.camera.axes import Y_UP_TO_Z_UP, euler_zxy, rotation_zxy
from vfx_ingest.depth.align import IDENTITY, fit_scale_shift
from vfx_ingest.depth.exr import write_depth
from vfx_ingest.depth.stitch import find_chunks
from vfx_ingest.depth.windows import WINDOW, WindowAligner, covering_windows, window_inputs
from vfx_ingest.digest import (
    FileDigest,
    file_digest,
    json_digest,
    sha256_bytes,
    tree_digest,
    verify,
)
from vfx_ingest.errors import BadInput, StageFailed
from vfx_ingest.frames import frame_set, parse_frame_ref, resolve_frame_ref, timecode_at
from vfx_ingest.job import Liveness, object_key
from vfx_ingest.manifest import FrameInfo, FrameMap, Manifest, SourceProbe, StageRecord
from vfx_ingest.paths import safe_join
from vfx_ingest.stages import REGISTRY


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


# --- atomic -----------------------------------------------------------------------------


def test_a_killed_writers_temp_file_is_found_and_removed(tmp_path: Path) -> None:
    final = tmp_path / "depth" / "depth.1001.exr"
    final.parent.mkdir()
    (tmp_path / "keep.txt").write_text("not ours")
    with atomic.target(final) as tmp:
        # Where a writer that is killed now leaves its bytes: next to the final name,
        # hidden, marked, with the real suffix last (OpenEXR and USD choose by it).
        assert tmp.parent == final.parent and tmp.name.startswith(".")
        assert atomic.TEMP_MARK in tmp.name and tmp.suffix == ".exr"
        tmp.write_bytes(b"half")
        assert atomic.remove_leftovers(tmp_path) == 1
        assert not tmp.exists()
        tmp.write_bytes(b"whole")  # (the writer goes on, for the context to finish)
    assert final.read_bytes() == b"whole"
    assert sorted(p.name for p in final.parent.iterdir()) == ["depth.1001.exr"]
    assert (tmp_path / "keep.txt").exists() and atomic.remove_leftovers(tmp_path) == 0


def test_a_write_that_fails_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / "shot.json"
    atomic.write_text(path, "old")
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    atomic.write_text(path, "new", fsync=True)
    assert path.read_text() == "new" and len(synced) == 1  # the manifest is made durable

    def full_disk(fd: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="no space"):
        atomic.write_text(path, "newer", fsync=True)
    assert path.read_text() == "new" and [p.name for p in path.parent.iterdir()] == ["shot.json"]


def test_a_writer_that_cannot_open_its_temp_file_reports_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refused(Exception):
        pass

    def refuse(*args: object, **kwargs: object) -> None:
        raise Refused

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(Refused):  # not a FileNotFoundError from cleaning up after it
        atomic.write_bytes(tmp_path / "a.bin", b"x")


# --- digest -----------------------------------------------------------------------------


def test_a_known_digest_is_reused_only_while_the_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "plate.1001.png"
    path.write_bytes(b"first")
    known = file_digest(path)
    assert file_digest(path, known) is known
    path.write_bytes(b"second, longer")
    assert file_digest(path, known).sha256 == sha256_bytes(b"second, longer")
    path.unlink()
    assert not known.matches_stat(path) and not verify(path, known)
    with pytest.raises(FileNotFoundError):
        file_digest(path, known)


def test_full_verification_reads_the_bytes(tmp_path: Path) -> None:
    """A change that keeps the size and the mtime passes the quick check, not the full."""
    path = tmp_path / "depth.1001.exr"
    path.write_bytes(b"aaaa")
    known = file_digest(path)
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(known.mtime_ns, known.mtime_ns))
    assert verify(path, known) and not verify(path, known, full=True)


def test_tree_and_json_digests_ignore_order_and_see_every_name_and_content() -> None:
    a, b = (
        FileDigest(sha256="a" * 64, size=1, mtime_ns=1),
        FileDigest(sha256="b" * 64, size=1, mtime_ns=1),
    )
    tree = tree_digest({"x": a, "y": b})
    assert tree_digest({"y": b, "x": a}) == tree
    assert tree_digest({"x": a, "z": b}) != tree and tree_digest({"x": a, "y": a}) != tree
    assert json_digest({"a": 1, "b": [2]}) == json_digest({"b": [2], "a": 1})


# --- cache ------------------------------------------------------------------------------


def done(stage: str, output_digest: str) -> StageRecord:
    return StageRecord(
        stage=stage, version="1", status="done", params={}, cache_key="k", inputs={},
        output_digest=output_digest,
    )  # fmt: skip


def test_the_cache_key_covers_stage_version_params_inputs_and_models() -> None:
    spec, params = REGISTRY["ingest"], REGISTRY["ingest"].params()
    key = cache.cache_key(spec, params, {"source": "s"}, {"m": "d"})
    changed = [
        cache.cache_key(
            dataclasses.replace(spec, name="other"), params, {"source": "s"}, {"m": "d"}
        ),
        cache.cache_key(
            dataclasses.replace(spec, version=spec.version + ".1"),
            params,
            {"source": "s"},
            {"m": "d"},
        ),
        cache.cache_key(spec, spec.params(first_frame=1), {"source": "s"}, {"m": "d"}),
        cache.cache_key(spec, params, {"source": "t"}, {"m": "d"}),
        cache.cache_key(spec, params, {"source": "s"}, {"m": "e"}),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_a_stage_keys_on_what_it_needs_and_the_optional_passes_the_shot_has(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from remote_stages import FRAMES

    monkeypatch.setitem(REGISTRY, "frames", FRAMES)  # makes "marks"
    spec = dataclasses.replace(FRAMES, name="reader", produces=("read",), uses=("marks",))
    shot = Manifest(tool_version="test", stages={"ingest": done("ingest", "p")})
    assert cache.input_digests(spec, shot) == {"plate": "p"}
    shot.stages["frames"] = done("frames", "m")
    assert cache.input_digests(spec, shot) == {"plate": "p", "marks": "m"}
    record = done("reader", "r").model_copy(update={"inputs": {"plate": "p", "marks": "m"}})
    assert cache.staleness(spec, record, shot, tmp_path) == "outputs missing or modified"
    shot.stages["ingest"] = done("ingest", "p2")
    assert cache.staleness(spec, record, shot, tmp_path) == "inputs changed"
    del shot.stages["ingest"]
    assert cache.input_digests(spec, shot) is None
    assert cache.staleness(spec, record, shot, tmp_path) == "inputs changed"
    with pytest.raises(BadInput, match="reader needs plate, which the shot does not have"):
        cache.stage_key(spec, spec.params(), shot, [], tmp_path)


# --- frames and timecode ----------------------------------------------------------------


def test_frame_sets_are_sorted_and_without_repeats() -> None:
    assert frame_set([1003, 1001, 1002, 1001]) == "1001-1003"


@pytest.mark.parametrize("text", ["ten", "1:2", "4.5", "s", ""])
def test_a_frame_reference_that_is_none_of_the_three_forms_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="cannot read frame reference"):
        parse_frame_ref(text)
    with pytest.raises(BadInput, match="cannot read frame reference"):
        resolve_frame_ref(text, fps=Fraction(24), first_frame=1001, start_timecode=None)


def test_timecode_references_wrap_at_midnight_and_count_drop_frames() -> None:
    ntsc = Fraction(30000, 1001)

    def index(ref: str, fps: Fraction, start: str | None) -> int:
        return resolve_frame_ref(ref, fps=fps, first_frame=1001, start_timecode=start)

    assert index("00:00:00:12", Fraction(24), "23:59:59:00") == 36  # past midnight
    assert index("00:00:00;00", ntsc, "23:59:59;29") == 1
    # Drop-frame: 00:01:00;00 and ;01 do not exist, so a minute in is frame 1798 + 2.
    assert index("00:01:00;02", ntsc, None) == 1800
    assert timecode_at("00:00:59;29", 1, ntsc) == "00:01:00;02"


def test_a_start_timecode_that_cannot_be_read_is_bad_input() -> None:
    with pytest.raises(BadInput, match="invalid timecode '00:00:01:00' at 24 fps"):
        resolve_frame_ref("00:00:01:00", fps=Fraction(24), first_frame=1001, start_timecode="x")


# --- redaction --------------------------------------------------------------------------


def test_secrets_from_six_characters_are_masked_longest_first() -> None:
    for value in ("abcde", "", None):
        redact.register_secret(value)  # too short to mask, or nothing
    redact.register_secret("s3cr3t")
    redact.register_secret("s3cr3t-and-more")
    assert redact.text("abcde s3cr3t s3cr3t-and-more") == "abcde *** ***"


def test_exceptions_in_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact.install()
    factory = logging.getLogRecordFactory()
    redact.install()
    assert logging.getLogRecordFactory() is factory  # installed once
    caplog.set_level(logging.INFO)
    try:
        raise RuntimeError("GET https://b.s3.example/k?X-Amz-Signature=feedc0ffee failed")
    except RuntimeError:
        logging.getLogger("some.library").exception("download failed")
    assert "feedc0ffee" not in caplog.text and "https://b.s3.example/k?***" in caplog.text


def test_a_redacting_stream_flushes_what_it_wraps() -> None:
    class Inner(io.StringIO):
        flushed = 0

        def flush(self) -> None:
            self.flushed += 1

    inner = Inner()
    stream = redact.RedactingStream(inner)
    stream.flush()
    assert inner.flushed == 1


# --- depth windows, alignment, stitching ------------------------------------------------


def test_window_cover_and_inputs_at_their_edges() -> None:
    # Window 0 reaches clip frames 0-31, window 1 frames 24-53 (its keyframes 0 and 12
    # are inputs only).
    assert covering_windows(100, 0, 0) == range(1)
    assert covering_windows(100, 31, 31) == range(2)  # the last frame window 0 reaches
    assert window_inputs(100, [0]) == list(range(32))
    assert window_inputs(100, [1]) == [0, 12, *range(24, 54)]
    with pytest.raises(ValueError, match="frames 0-10 outside a clip of 10"):
        WindowAligner(10, first=0, last=10)


def test_an_aligner_restored_from_its_state_goes_on_with_the_same_anchors() -> None:
    gen = torch.Generator().manual_seed(5)
    aligner = WindowAligner(60)
    list(aligner.push(torch.rand(WINDOW, 3, 4, generator=gen)))
    state = aligner.state()
    assert len(state["anchors"]) == 2  # the clip's first frame and the next window's anchor
    restored = WindowAligner(60)
    restored.restore(state)
    second = torch.rand(WINDOW, 3, 4, generator=gen)
    ours = [f.depth for f in restored.push(second.clone())]
    theirs = [f.depth for f in aligner.push(second.clone())]
    assert len(ours) == len(theirs) > 0
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_scale_shift_fits_of_tiny_values_and_of_nearly_flat_predictions() -> None:
    gen = torch.Generator().manual_seed(2)
    tiny = torch.rand(2, 2, generator=gen, dtype=torch.float64) * 1e-7
    fitted = fit_scale_shift([tiny], [tiny * 3.0 + 0.5])
    assert fitted.scale == pytest.approx(3.0) and fitted.shift == pytest.approx(0.5)
    flat = 1.0 + torch.rand(100, 100, generator=gen, dtype=torch.float64) * 1e-9
    assert fit_scale_shift([flat], [torch.rand(100, 100, generator=gen)]) == IDENTITY
    x = torch.tensor([-1.0, 2.0])
    assert IDENTITY.apply(x) is x  # the identity leaves values as they are


def test_a_chunk_ending_where_the_one_before_ends_lies_inside_it(tmp_path: Path) -> None:
    def chunk(name: str, numbers: range) -> Path:
        (tmp_path / name / "depth").mkdir(parents=True)
        for n in numbers:
            write_depth(tmp_path / name / "depth" / f"depth.{n:04d}.exr", np.ones((2, 2)), {})
        return tmp_path / name

    with pytest.raises(StageFailed, match="lies inside"):
        find_chunks([chunk("a", range(1001, 1006)), chunk("b", range(1003, 1006))])


# --- camera axes ------------------------------------------------------------------------


def test_nerfstudio_worlds_are_z_up() -> None:
    point = np.array([1.0, 2.0, 3.0, 1.0])  # x right, y up, z towards the viewer
    np.testing.assert_array_equal(Y_UP_TO_Z_UP @ point, [1.0, -3.0, 2.0, 1.0])


@pytest.mark.parametrize("rx", [90.0, -90.0])
def test_zxy_angles_of_a_rotation_rounded_just_past_straight_up_or_down(rx: float) -> None:
    rotation = rotation_zxy(rx, 30.0, 0.0)
    # What float rounding can make of -sin(+-90 degrees): just past -1 or 1.
    rotation[1, 2] = -np.sign(rx) * 1.0000000000000002
    (angles,) = euler_zxy(rotation[None])
    assert np.isfinite(angles).all() and angles[0] == pytest.approx(rx)


def test_a_client_heartbeat_timeout_may_be_under_a_second() -> None:
    assert Liveness(timeout_s=0.5, key="heartbeat").timeout_s == 0.5
    with pytest.raises(ValueError, match="greater than 0"):
        Liveness(timeout_s=0, key="heartbeat")
