"""Bad input: one clear line on stderr, exit code 2, nothing half-written, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfx_ingest.errors import EXIT_BAD_INPUT


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def nothing_written(shot: Path) -> bool:
    return not (shot / "shot.json").exists() and not (shot / "plate").exists()


def audio_only(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        samples = np.zeros((1, 48000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def zero_frames(path: Path) -> Path:
    """A clip whose header was written but which never got a frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    return path


def truncate(clip: Path, dest: Path, fraction: float) -> Path:
    data = clip.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d, clips: d / "missing.mp4", "clip not found"),
        (lambda d, clips: d, "is a directory"),
        (
            lambda d, clips: (d / "notes.mp4").write_text("hello") and d / "notes.mp4",
            "not a video file",
        ),
        (lambda d, clips: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty"),
        (lambda d, clips: truncate(clips(frames=24), d / "cut.mp4", 0.6), "not a video file"),
        (
            lambda d, clips: truncate(
                clips("fs.mp4", frames=24, faststart=True), d / "cut.mp4", 0.6
            ),
            "truncated",
        ),
        (lambda d, clips: zero_frames(d / "zero.mp4"), "no video frames"),
        (lambda d, clips: zero_frames(d / "zero.mkv"), "no video frames"),
        (lambda d, clips: audio_only(d / "audio.m4a"), "no video stream"),
    ],
    ids=[
        "missing",
        "directory",
        "text",
        "empty",
        "truncated",
        "truncated-faststart",
        "zero-frames-mp4",
        "zero-frames-mkv",
        "audio-only",
    ],
)
def test_unusable_clip(cli, clips, tmp_path, make, fragment):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    clip = make(inputs, clips)
    shot = tmp_path / "shot"
    result = cli("run", clip, "--shot", shot)
    assert_one_line_error(result, fragment, str(clip))
    assert nothing_written(shot)


def test_unwritable_shot_folder(cli, clips, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the shot's parent folder should be")
    result = cli("run", clips(), "--shot", blocker / "shot")
    assert_one_line_error(result, "cannot write to the shot folder", "--shot")


def test_unknown_stage_lists_the_known_ones(cli, clips, tmp_path):
    result = cli("run", clips(), "--shot", tmp_path / "shot", "--stages", "ingest,dpeth")
    assert_one_line_error(result, "unknown stage 'dpeth'", "ingest")
    assert nothing_written(tmp_path / "shot")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--start", "2000"], "outside the clip"),
        (["--start", "1008", "--end", "1003"], "outside the clip"),
        (["--start", "soon"], "cannot read frame reference"),
        (["--exr-colorspace", "Nope", "--plate-format", "exr"], "not in the OCIO config"),
    ],
)
def test_bad_options_fail_before_any_work(cli, clips, tmp_path, args, fragment):
    shot = tmp_path / "shot"
    result = cli("run", clips(frames=12), "--shot", shot, *args)
    assert_one_line_error(result, fragment)
    assert nothing_written(shot)


def test_bad_input_keeps_earlier_outputs(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=4), "--shot", shot).exit_code == 0
    before = {p.name: p.read_bytes() for p in (shot / "plate").iterdir()}
    manifest_before = (shot / "shot.json").read_text()
    result = cli("run", tmp_path / "missing.mp4", "--shot", shot)
    assert result.exit_code == EXIT_BAD_INPUT
    assert {p.name: p.read_bytes() for p in (shot / "plate").iterdir()} == before
    assert (shot / "shot.json").read_text() == manifest_before


def test_json_mode_reports_the_error_as_json_too(cli, tmp_path):
    result = cli("run", tmp_path / "missing.mp4", "--json")
    assert result.exit_code == EXIT_BAD_INPUT
    (line,) = cli.json_lines(result.stdout)
    assert line["type"] == "error" and line["exit_code"] == 2 and "clip not found" in line["error"]


@pytest.mark.parametrize("stages", ["", ",", " , "])
def test_empty_stage_list_is_refused_with_nothing_written(cli, clips, tmp_path, stages):
    shot = tmp_path / "shot"
    for clip in (clips(frames=4), tmp_path / "missing.mp4"):
        result = cli("run", clip, "--shot", shot, "--stages", stages)
        assert_one_line_error(result, "no stage to run", "ingest")
        assert not shot.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "clip.mp4", "--plate-format", "jpg"], "'--plate-format'"),
        (["run", "clip.mp4", "--max-workers", "0"], "'--max-workers'"),
        (["run", "clip.mp4", "--no-such-flag"], "--no-such-flag"),
        (["run"], "Missing argument"),
        (["models", "sync", "--jobs", "0"], "'--jobs'"),
        (["status"], "Missing argument"),
        (["nope"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(cli, args, fragment):
    result = cli(*args)
    assert_one_line_error(result, fragment, "--help`")
    assert "╭" not in result.stderr


def test_usage_error_with_json_is_a_json_line_too(cli):
    result = cli("run", "clip.mp4", "--plate-format", "jpg", "--json")
    assert result.exit_code == EXIT_BAD_INPUT
    (line,) = cli.json_lines(result.stdout)
    assert line["type"] == "error" and "--plate-format" in line["error"]
