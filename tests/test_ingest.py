"""The ingest stage end to end through the CLI, on real clips encoded with PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import imagecodecs
import numpy as np
import OpenEXR
import pytest

from vfx_ingest.manifest import Manifest

from conftest import level


def plate(shot: Path) -> list[Path]:
    return sorted((shot / "plate").iterdir())


def manifest(shot: Path) -> Manifest:
    return Manifest.model_validate_json((shot / "shot.json").read_text())


def grey(path: Path) -> float:
    """Mean of the frame away from its marker: which source frame it came from."""
    image = imagecodecs.png_decode(path.read_bytes()).astype(float)
    if image.dtype != np.uint8 and image.max() > 255:
        image = image / 257
    h, w = image.shape[:2]
    return float(image[h // 2 :, w // 2 :].mean())


def test_run_writes_plate_from_1001_and_a_manifest(cli, clips, tmp_path):
    clip = clips(frames=12)
    shot = tmp_path / "sh010"
    result = cli("run", clip, "--shot", shot)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(shot)
    names = [p.name for p in plate(shot)]
    assert names == [f"plate.{n:04d}.png" for n in range(1001, 1013)]
    for i, path in enumerate(plate(shot)):
        assert abs(grey(path) - level(i)) <= 2, path.name
    m = manifest(shot)
    assert m.source is not None and m.source.probe.frame_count == 12
    assert m.frames is not None and m.frames.frame_set == "1001-1012"
    assert [f.time for f in m.frames.frames][:3] == pytest.approx([0, 1 / 24, 2 / 24], abs=1e-4)
    record = m.stages["ingest"]
    assert record.status == "done" and len(record.outputs) == 12
    assert not (shot / ".staging").exists() or not any((shot / ".staging").iterdir())


def test_second_run_is_cached_and_force_reruns(cli, clips, tmp_path):
    """A cached run rewrites nothing (no wall-clock bound: it would fail on a loaded
    machine; what makes it fast is that it does no work, which is what is checked)."""
    clip, shot = clips(frames=12), tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    before = manifest(shot).stages["ingest"]
    written = {p: p.stat().st_mtime_ns for p in (shot / "plate").iterdir()}
    result = cli("run", clip, "--shot", shot, "--json")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"type": "stage", "stage": "ingest", "status": "cached"}.items() <= events[0].items()
    assert {p: p.stat().st_mtime_ns for p in (shot / "plate").iterdir()} == written
    assert manifest(shot).stages["ingest"].finished_at == before.finished_at
    forced = cli("run", clip, "--shot", shot, "--force", "--json")
    statuses = [e["status"] for e in cli.json_lines(forced.stdout) if e["type"] == "stage"]
    assert statuses == ["started", "done"]
    assert manifest(shot).stages["ingest"].finished_at > before.finished_at


def test_changed_option_or_damaged_output_reruns(cli, clips, tmp_path):
    clip, shot = clips(frames=6), tmp_path / "shot"
    cli("run", clip, "--shot", shot)
    (shot / "plate" / "plate.1003.png").write_bytes(b"damaged")
    result = cli("run", clip, "--shot", shot, "--json")
    assert [e["status"] for e in cli.json_lines(result.stdout) if e["type"] == "stage"][
        -1
    ] == "done"
    assert grey(shot / "plate" / "plate.1003.png") == pytest.approx(level(2), abs=2)
    assert cli("run", clip, "--shot", shot, "--first-frame", "1").exit_code == 0
    assert plate(shot)[0].name == "plate.0001.png"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--start", "1004", "--end", "1007"], [1004, 1005, 1006, 1007]),
        (["--start", "00:00:00:04", "--end", "00:00:00:06"], [1005, 1006, 1007]),
        (["--start", "0.25s", "--end", "0.375s"], [1007, 1008, 1009, 1010]),
        (["--every", "3"], [1001, 1004, 1007, 1010]),
        (["--first-frame", "1", "--end", "3"], [1, 2, 3]),
    ],
)
def test_frame_selection_keeps_source_numbering(cli, clips, tmp_path, args, expected):
    shot = tmp_path / "shot"
    result = cli("run", clips(frames=12), "--shot", shot, *args)
    assert result.exit_code == 0, result.stderr
    numbers = [int(p.name.split(".")[1]) for p in plate(shot)]
    assert numbers == expected
    first = numbers[0] - (1 if "--first-frame" in args else 1001)
    assert abs(grey(plate(shot)[0]) - level(first)) <= 2
    frames = manifest(shot).frames
    assert frames is not None and [f.frame for f in frames.frames] == expected


def test_timecode_is_mapped_per_frame(cli, clips, tmp_path):
    clip = clips(
        "tc.mov", frames=6, codec="prores_ks", pix_fmt="yuv422p10le", timecode="01:00:00:20"
    )
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot, "--start", "01:00:00:22").exit_code == 0
    m = manifest(shot)
    assert m.source is not None and m.source.probe.timecode == "01:00:00:20"
    assert m.frames is not None and m.frames.timecode_from == "source"
    assert [(f.frame, f.timecode) for f in m.frames.frames] == [
        (1003, "01:00:00:22"),
        (1004, "01:00:00:23"),
        (1005, "01:00:01:00"),
        (1006, "01:00:01:01"),
    ]


def test_ten_bit_source_gives_sixteen_bit_png(cli, clips, tmp_path):
    clip = clips("p10.mov", frames=3, codec="prores_ks", pix_fmt="yuv422p10le")
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    image = imagecodecs.png_decode(plate(shot)[1].read_bytes())
    assert image.dtype == np.uint16 and image.shape == (48, 64, 3)
    assert abs(image[40:, 40:].mean() / 257 - level(1)) <= 2
    assert manifest(shot).source.probe.bit_depth == 10  # type: ignore[union-attr]


def test_rotation_metadata_turns_the_plate_upright(cli, clips, tmp_path):
    clip = clips("rot.mp4", frames=3, width=64, height=48, rotation=90)
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    image = imagecodecs.png_decode(plate(shot)[0].read_bytes())
    # 90 degrees counter-clockwise, as FFmpeg's autorotate shows it: the marker that was
    # top-left in the coded frame is bottom-left on screen.
    assert image.shape == (64, 48, 3)
    assert image[-4:, :4].mean() > 240 and image[:4, :4].mean() < 100
    probe = manifest(shot).source.probe  # type: ignore[union-attr]
    assert (probe.rotation, probe.display_width, probe.display_height) == (90, 48, 64)


def test_max_size_downscales_keeping_aspect_with_even_dimensions(cli, clips, tmp_path):
    clip = clips("big.mp4", frames=2, width=320, height=180)
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot, "--max-size", "101").exit_code == 0
    image = imagecodecs.png_decode(plate(shot)[0].read_bytes())
    assert image.shape == (56, 100, 3)
    assert manifest(shot).frames.width == 100  # type: ignore[union-attr]


def test_variable_frame_rate_keeps_every_frame_with_its_time(cli, clips, tmp_path):
    times = [0, 40, 80, 200, 240, 400]
    clip = clips("vfr.mp4", frames=6, times_ms=times)
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    m = manifest(shot)
    assert m.source.probe.variable_frame_rate  # type: ignore[union-attr]
    assert [f.time for f in m.frames.frames] == pytest.approx([t / 1000 for t in times])  # type: ignore[union-attr]
    assert len(plate(shot)) == 6


def test_exr_plates_are_linear_half_with_colour_metadata(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    result = cli("run", clips(frames=2), "--shot", shot, "--plate-format", "exr")
    assert result.exit_code == 0, result.stderr
    path = shot / "plate" / "plate.1002.exr"
    with OpenEXR.File(str(path)) as exr:
        header = dict(exr.header())  # the live header empties when the file closes
        rgb = exr.channels()["RGB"].pixels.copy()
    assert rgb.dtype == np.float16
    assert header.get("colorspace") == "Linear Rec.709 (sRGB)", header
    assert header["compression"] == OpenEXR.ZIP_COMPRESSION
    code = level(1) / 255
    # Rec.709 inverse OETF of the code value: linear light, not the code value itself.
    linear = ((code + 0.099) / 1.099) ** (1 / 0.45) if code >= 0.081 else code / 4.5
    assert float(rgb[30:, 40:].mean()) == pytest.approx(linear, abs=0.01)


def test_status_shows_records_and_marks_stale_outputs(cli, clips, tmp_path):
    clip, shot = clips(frames=4), tmp_path / "shot"
    cli("run", clip, "--shot", shot)
    shown = cli("status", shot)
    assert shown.exit_code == 0 and "ingest" in shown.stdout and "done" in shown.stdout
    (shot / "plate" / "plate.1002.png").unlink()
    shown = cli("status", shot)
    assert "stale" in shown.stdout and "outputs missing or modified" in shown.stdout
    data = json.loads(cli("status", shot, "--json").stdout)
    assert data["stages"]["ingest"]["status"] == "done"
    assert data["frames"]["frame_set"] == "1001-1004"
