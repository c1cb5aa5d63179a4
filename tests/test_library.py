"""Library pieces: frame references, atomic writes, the shot lock, digests, the worker."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfx_ingest import atomic
from vfx_ingest.digest import file_digest, verify
from vfx_ingest.errors import BadInput, ShotBusy
from vfx_ingest.frames import frame_number, frame_path, frame_set, resolve_frame_ref, timecode_at
from vfx_ingest.io.decode import fit_size
from vfx_ingest.job import Job, StageRequest
from vfx_ingest.shot import ShotFolder

RATES = [Fraction(24), Fraction(25), Fraction(30), Fraction(24000, 1001), Fraction(30000, 1001)]


@given(
    rate=st.sampled_from(RATES),
    hours=st.integers(0, 22),
    index=st.integers(0, 200_000),
)
def test_timecode_round_trip(rate, hours, index):
    start = f"{hours:02d}:00:00{';' if rate == Fraction(30000, 1001) else ':'}00"
    tc = timecode_at(start, index, rate)
    assert resolve_frame_ref(tc, fps=rate, first_frame=1001, start_timecode=start) == index


@given(st.integers(0, 10**6), st.integers(1, 10**5))
def test_frame_number_reference(index, first):
    assert (
        resolve_frame_ref(
            str(first + index), fps=Fraction(24), first_frame=first, start_timecode=None
        )
        == index
    )


@given(st.integers(16, 8192), st.floats(0.1, 10), st.integers(16, 4096))
def test_fit_size_is_even_bounded_and_keeps_aspect(width, aspect, max_size):
    height = max(16, round(width / aspect))
    w, h = fit_size(width, height, max_size)
    if max(width, height) <= max_size:
        assert (w, h) == (width, height)
        return
    assert w % 2 == 0 and h % 2 == 0 and max(w, h) <= max_size
    # Rounding moves each side by at most one pixel (two for the even long side).
    assert w / h == pytest.approx(width / height, rel=2 / min(w, h) + 2 / max(w, h))


def test_frame_names_and_sets():
    assert frame_path("plate", 1001, "png") == "plate.1001.png"
    assert frame_path("plate", 12345, "exr") == "plate.12345.exr"
    assert frame_set([1001, 1003, 1005]) == "1001-1005x2"
    assert frame_set(range(1001, 1097)) == "1001-1096"
    assert frame_number("depth/preview/depth.1001.png") == 1001
    assert frame_number(frame_path("roto", 12345, "png")) == 12345
    assert frame_number("camera/camera.usda") is None and frame_number("shot.json") is None


def test_seconds_reference_rounds_to_the_nearest_frame():
    rate = Fraction(24000, 1001)
    assert resolve_frame_ref("1s", fps=rate, first_frame=1001, start_timecode=None) == 24


def test_atomic_write_leaves_old_or_new(tmp_path: Path):
    folder = tmp_path / "t"
    folder.mkdir()
    target = folder / "a.txt"
    atomic.write_text(target, "old")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic.target(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert target.read_text() == "old"
    assert [p.name for p in folder.iterdir()] == ["a.txt"]


def test_swap_dir_replaces_a_folder(tmp_path: Path):
    tmp_path = tmp_path / "t"
    (tmp_path / "new").mkdir(parents=True)
    (tmp_path / "new" / "f").write_text("new")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "old").write_text("old")
    atomic.swap_dir(tmp_path / "new", tmp_path / "dest")
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["f"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


def test_shot_lock_refuses_a_second_holder(tmp_path: Path):
    shot = ShotFolder(tmp_path)
    with shot.lock():
        with pytest.raises(ShotBusy) as info, ShotFolder(tmp_path).lock():
            pass
        assert "in use by pid" in info.value.line()
    with shot.lock():
        pass


def test_manifest_from_a_newer_version_is_refused(tmp_path: Path):
    (tmp_path / "shot.json").write_text('{"schema_version": 99, "tool_version": "9"}')
    with pytest.raises(BadInput, match="newer"):
        ShotFolder(tmp_path).load_manifest()


def test_digest_reuse_and_verification(tmp_path: Path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    digest = file_digest(path)
    assert file_digest(path, digest) is digest
    assert verify(path, digest) and verify(path, digest, full=True)
    path.write_bytes(b"abd")
    assert not verify(path, digest)


def test_worker_refuses_a_stage_whose_inputs_are_missing(tmp_path: Path):
    from vfx_ingest.worker import execute

    job = Job(shot=str(tmp_path / "shot"), stages=[StageRequest(name="ingest")])
    with pytest.raises(BadInput, match="needs source"):
        execute(job)


@pytest.mark.parametrize("gpu", [True, False])
def test_device_selection_follows_the_stage_needs(gpu, monkeypatch):
    """Both answers of torch's CUDA check, whatever this machine has."""
    from vfx_ingest import devices
    from vfx_ingest.stages.base import DeviceNeeds

    monkeypatch.setattr(devices, "_cuda_available", lambda: gpu)
    cpu_only, optional = DeviceNeeds(), DeviceNeeds(accelerator="optional", min_vram_gb=8)
    required = DeviceNeeds(accelerator="required")
    assert devices.resolve("cuda", cpu_only) == "cpu"
    assert devices.resolve("cpu", optional) == "cpu"
    if gpu:
        assert devices.resolve("auto", optional) == "cuda"
        assert devices.resolve("cuda", optional) == "cuda"
        assert devices.resolve("auto", required) == "cuda"
    else:  # no GPU: asking for one fails clearly
        assert devices.resolve("auto", optional) == "cpu"
        with pytest.raises(BadInput, match="no CUDA GPU"):
            devices.resolve("cuda", optional)
        with pytest.raises(BadInput, match="needs a CUDA GPU"):
            devices.resolve("auto", required)
    assert optional.describe() == "GPU ≥8 GB (CPU ok)" and cpu_only.describe() == "CPU"
