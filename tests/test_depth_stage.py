"""The depth stage through its stage API: EXR frames and attributes, previews, stepped
plates, frame-range chunks and their stitching, model errors.

The network is the real ``vits`` layout with the fixture's deterministic weights, saved in
the official file name; plates are frames of the bundled example clip, numbered 1001,
1003, ... (a stepped plate), and small (input size 42) so the suite stays quick.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from depth_helpers import courtyard, filled_network, write_model_dir, write_plate
from vfx_ingest.depth.align import Affine
from vfx_ingest.depth.exr import DepthWriter, read_depth, write_depth
from vfx_ingest.depth.stitch import find_chunks, stitch_chunks
from vfx_ingest.errors import BadInput, StageFailed
from vfx_ingest.io.images import decode_png, read_exr
from vfx_ingest.manifest import FrameInfo, FrameMap
from vfx_ingest.stages import get_stage
from vfx_ingest.stages.base import StageContext
from vfx_ingest.stages.depth import DepthParams

SPEC = get_stage("depth")
COUNT = 90  # 4 windows
SIZE = (128, 72)  # plate width, height -> network 70 x 42 at input size 42
NUMBERS = [1001 + 2 * i for i in range(COUNT)]  # every other source frame
PARAMS = DepthParams(input_size=42)
# Plate indices, 10 frames of overlap. The first two chunks start within the frames the
# clip's first two windows reach, so their predictions are exactly the single pass's; the
# third starts later and lands within a small scale/shift of it (fitted by the stitch).
CHUNKS = [(0, 39), (30, 69), (60, 89)]


def frame_map(numbers: list[int]) -> FrameMap:
    return FrameMap(
        first=numbers[0],
        last=numbers[-1],
        count=len(numbers),
        frame_set=f"{numbers[0]}-{numbers[-1]}x2",
        width=SIZE[0],
        height=SIZE[1],
        fps=Fraction(24),
        frames=[FrameInfo(frame=n, source_index=n - 1001, time=(n - 1001) / 24) for n in numbers],
    )


def context(
    shot: Path,
    staging: str,
    models: dict[str, Path],
    frame_range: tuple[int, int] | None = None,
    events: list | None = None,
) -> StageContext:
    return StageContext(
        stage="depth",
        shot_root=shot,
        staging=shot / ".staging" / staging,
        frames=frame_map(NUMBERS),
        frame_range=frame_range,
        models=models,
        on_progress=lambda done, total, message: (events if events is not None else []).append(
            (done, total, message)
        ),
    )


def depth_stack(folder: Path, numbers: list[int]) -> np.ndarray:
    return np.stack([read_depth(folder / f"depth.{n:04d}.exr")[0] for n in numbers])


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).mean() / np.abs(reference).mean())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "vda-small": write_model_dir(root / "vda-small"),
        "vda-metric-small": write_model_dir(
            root / "vda-metric-small", "metric_video_depth_anything_vits.pth"
        ),
    }


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shot")
    write_plate(root, list(courtyard(COUNT, *SIZE)), NUMBERS)
    return root


@pytest.fixture(scope="module")
def single_pass(shot: Path, models: dict[str, Path]) -> tuple[Path, object, list]:
    events: list = []
    ctx = context(shot, "full", models, events=events)
    result = SPEC.run(ctx, PARAMS.model_copy(update={"preview": True}))
    return ctx.staging / "depth", result, events


def test_single_pass_writes_float_exr_frames_with_attributes(single_pass: tuple) -> None:
    folder, result, events = single_pass
    assert sorted(p.name for p in folder.glob("*.exr")) == [f"depth.{n}.exr" for n in NUMBERS]
    channels, header = read_exr(folder / "depth.1001.exr")
    assert list(channels) == ["Z"]
    assert channels["Z"].dtype == np.float32 and channels["Z"].shape == (SIZE[1], SIZE[0])
    assert "ZIP" in str(header["compression"])
    assert header["vfxingest/values"] == "relative_disparity"
    assert header["vfxingest/model"] == "vda-small"
    assert header["vfxingest/model_license"] == "Apache-2.0"
    assert "70x42" in header["vfxingest/normalisation"]
    assert "ImageNet" in header["vfxingest/normalisation"]
    depth = depth_stack(folder, NUMBERS)
    assert depth.min() >= 0 and depth.std() > 0.05 * depth.mean()
    stats = result.stats
    assert stats["windows"] == 4 and stats["encoded_frames"] == COUNT
    assert stats["network_size"] == "70x42" and stats["model"] == "vda-small"
    assert stats["notes"] == []  # Apache-2.0: nothing to warn about
    assert events[-1][:2] == (COUNT, COUNT)


def test_previews_are_normalised_over_the_whole_shot(single_pass: tuple) -> None:
    folder, _, _ = single_pass
    depth = depth_stack(folder, NUMBERS)
    previews = np.stack(
        [decode_png((folder / "preview" / f"depth.{n}.png").read_bytes()) for n in NUMBERS]
    )
    assert previews.dtype == np.uint16 and previews.shape == depth.shape
    assert previews.min() == 0 and previews.max() == 65535  # the shot's range, not a frame's
    per_frame_max = previews.reshape(COUNT, -1).max(axis=1)
    assert (per_frame_max < 65535).any()
    expected = (depth - depth.min()) / (depth.max() - depth.min()) * 65535  # near (high) bright
    assert np.abs(previews - expected).max() <= 1


@pytest.fixture(scope="module")
def chunk_dirs(shot: Path, models: dict[str, Path]) -> list[Path]:
    """Three chunk jobs' staging folders, made through the stage API with previews on."""
    folders = []
    for k, (lo, hi) in enumerate(CHUNKS):
        ctx = context(shot, f"chunk{k}", models, (NUMBERS[lo], NUMBERS[hi]))
        result = SPEC.run(ctx, PARAMS.model_copy(update={"preview": True}))
        written = sorted(p.name for p in (ctx.staging / "depth").glob("*.exr"))
        assert written == [f"depth.{n}.exr" for n in NUMBERS[lo : hi + 1]]  # only its range
        assert result.stats["frames"] == hi - lo + 1
        folders.append(ctx.staging)
    return folders


def test_chunks_stitched_through_the_stage_match_a_single_pass(
    shot: Path, models: dict[str, Path], single_pass: tuple, chunk_dirs: list[Path]
) -> None:
    final = context(shot, "stitched", models)
    SPEC.stitch(final, list(reversed(chunk_dirs)))  # any order: sorted by frame
    stitched = depth_stack(final.staging / "depth", NUMBERS)
    reference = depth_stack(single_pass[0], NUMBERS)
    assert relative_error(stitched, reference) < 0.01
    _, attributes = read_depth(final.staging / "depth" / "depth.1001.exr")
    assert attributes["vfxingest/values"] == "relative_disparity"
    previews = np.stack(
        [
            decode_png((final.staging / "depth" / "preview" / f"depth.{n}.png").read_bytes())
            for n in NUMBERS
        ]
    )
    assert previews.min() == 0 and previews.max() == 65535  # redone over the whole shot


def test_chunks_stitched_directly_match_a_single_pass(
    tmp_path: Path, single_pass: tuple, chunk_dirs: list[Path]
) -> None:
    """``stitch_chunks`` itself, on the last two chunks (frames 30-89)."""
    numbers = NUMBERS[30:]
    _, attributes = read_depth(chunk_dirs[1] / "depth" / f"depth.{numbers[0]}.exr")
    out = tmp_path / "depth"
    out.mkdir()
    writer = DepthWriter(lambda rel: out / rel, attributes)
    affines = stitch_chunks(find_chunks(chunk_dirs[1:]), writer)
    writer.finish(previews=False)
    assert affines[0] == Affine() and affines[1] != Affine()
    reference = depth_stack(single_pass[0], numbers)
    stitched = depth_stack(out, numbers)
    np.testing.assert_array_equal(stitched[:30], reference[:30])  # the exact chunk alone
    assert relative_error(stitched, reference) < 0.01
    assert relative_error(stitched[40:], reference[40:]) > 1e-4  # the last one is refitted


def test_metric_model_writes_metres_and_is_not_rescaled(
    shot: Path, models: dict[str, Path]
) -> None:
    ctx = context(shot, "metric", models, frame_range=(NUMBERS[0], NUMBERS[33]))
    params = DepthParams(model="vda-metric-small", input_size=28, preview=True)
    result = SPEC.run(ctx, params)
    assert result.stats["values"] == "metric_depth_m"
    assert result.stats["windows"] == 2 and result.stats["scales"] == [1.0, 1.0]
    depth, attributes = read_depth(ctx.staging / "depth" / "depth.1001.exr")
    assert attributes["vfxingest/values"] == "metric_depth_m"
    assert attributes["vfxingest/model"] == "vda-metric-small"
    preview = decode_png((ctx.staging / "depth" / "preview" / "depth.1001.png").read_bytes())
    # Metric previews are inverted so that near is bright, as for disparity.
    assert np.corrcoef(depth.ravel(), preview.ravel().astype(float))[0, 1] < -0.99


# --- joining, with made-up chunk outputs ----------------------------------------------


def write_chunk(folder: Path, numbers: list[int], values: list[np.ndarray]) -> Path:
    (folder / "depth").mkdir(parents=True)
    attributes = {"vfxingest/values": "relative_disparity", "vfxingest/model": "vda-small"}
    for number, value in zip(numbers, values, strict=True):
        write_depth(folder / "depth" / f"depth.{number:04d}.exr", value, attributes)
    return folder


def test_stitch_recovers_one_scale_and_cross_fades(tmp_path: Path) -> None:
    gen = np.random.default_rng(3)
    truth = [gen.uniform(1, 5, (4, 6)).astype(np.float32) for _ in range(30)]
    numbers = list(range(1001, 1031))
    a = write_chunk(tmp_path / "a", numbers[:20], truth[:20])
    b = write_chunk(tmp_path / "b", numbers[12:], [t * 2.0 + 1.0 for t in truth[12:]])
    out = tmp_path / "out"
    writer = DepthWriter(lambda rel: out / rel, {"vfxingest/values": "relative_disparity"})
    out.mkdir()
    progress: list[tuple[int, int]] = []
    affines = stitch_chunks(find_chunks([b, a]), writer, lambda d, t: progress.append((d, t)))
    writer.finish(previews=False)
    assert affines[1].scale == pytest.approx(0.5) and affines[1].shift == pytest.approx(-0.5)
    joined = [read_depth(out / f"depth.{n}.exr")[0] for n in numbers]
    np.testing.assert_allclose(np.stack(joined), np.stack(truth), rtol=1e-5)
    assert progress[-1] == (30, 30)


def test_stitch_refuses_chunks_that_cannot_be_joined(tmp_path: Path) -> None:
    flat = [np.ones((2, 2), np.float32)] * 5
    a = write_chunk(tmp_path / "a", [1001, 1002, 1003, 1004, 1005], flat)
    gap = write_chunk(tmp_path / "gap", [1010, 1011, 1012, 1013, 1014], flat)
    inner = write_chunk(tmp_path / "inner", [1002, 1003], flat[:2])
    empty = tmp_path / "empty"
    (empty / "depth").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    writer = DepthWriter(lambda rel: out / rel, {})
    with pytest.raises(StageFailed, match="shares no frame"):
        stitch_chunks(find_chunks([a, gap]), writer)
    with pytest.raises(StageFailed, match="inside"):
        find_chunks([a, inner])
    with pytest.raises(StageFailed, match="no depth frames"):
        find_chunks([a, empty])
    writer.close()


# --- bad input ---------------------------------------------------------------------------


def test_params_and_models_are_checked() -> None:
    with pytest.raises(ValidationError, match="multiple of 14"):
        DepthParams(input_size=500)
    assert DepthParams().model == "vda-small" and DepthParams().input_size == 518
    from vfx_ingest.models.registry import load_registry

    registry = load_registry()
    with pytest.raises(BadInput, match=r"unknown model 'vda-smal'\. Did you mean vda-small"):
        registry.get("vda-smal")
    # In the registry and a depth model, but not a Video Depth Anything checkpoint: the
    # planner runs the stage's model check before any work.
    assert SPEC.model_check is not None
    SPEC.model_check(registry.get("vda-small"))
    with pytest.raises(BadInput, match="not a Video Depth Anything checkpoint"):
        SPEC.model_check(registry.get("depth-anything-v2-small"))


def test_model_ids_follow_the_registry() -> None:
    from vfx_ingest.depth.models import MODEL_IDS, depth_model
    from vfx_ingest.models.registry import load_registry

    registry = load_registry()
    vda = [m for m in registry.models.values() if m.family.startswith("video-depth-anything")]
    assert tuple(m.id for m in vda) == MODEL_IDS == SPEC.models
    models = {m.id: depth_model(m) for m in vda}
    assert models["vda-small"].filename == "video_depth_anything_vits.pth"
    assert models["vda-metric-large"].filename == "metric_video_depth_anything_vitl.pth"
    assert [m.id for m in models.values() if m.metric] == [i for i in MODEL_IDS if "metric" in i]
    assert [m.id for m in models.values() if m.license_note()] == [
        "vda-base",
        "vda-large",
        "vda-metric-base",
        "vda-metric-large",
    ]


def test_missing_or_wrong_weights_are_bad_input(
    shot: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(BadInput, match="not available"):
        SPEC.run(context(shot, "none", {}), PARAMS)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match=r"video_depth_anything_vits\.pth is missing"):
        SPEC.run(context(shot, "missing", {"vda-small": empty}), PARAMS)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "video_depth_anything_vits.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInput, match="cannot read the vda-small checkpoint"):
        SPEC.run(context(shot, "garbage", {"vda-small": garbage}), PARAMS)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    state = {k: v for k, v in filled_network().state_dict().items() if "head" not in k}
    torch.save(state, foreign / "video_depth_anything_vits.pth")
    with pytest.raises(BadInput, match="does not fit vda-small"):
        SPEC.run(context(shot, "foreign", {"vda-small": foreign}), PARAMS)
    torch.save({"model": torch.zeros(3)}, foreign / "video_depth_anything_vits.pth")
    with pytest.raises(BadInput, match="not a Video Depth Anything state dict"):
        SPEC.run(context(shot, "other", {"vda-small": foreign}), PARAMS)


def test_non_commercial_models_say_so(shot: Path) -> None:
    events: list = []
    with pytest.raises(BadInput, match="vda-large weights are not available"):
        SPEC.run(context(shot, "large", {}, events=events), DepthParams(model="vda-large"))
    notes = [message for _, _, message in events if message]
    assert notes == ["note: vda-large weights are CC-BY-NC-4.0: non-commercial use only"]


def test_chunk_outside_the_plate_is_bad_input(shot: Path, models: dict[str, Path]) -> None:
    with pytest.raises(BadInput, match="select no plate frame"):
        SPEC.run(context(shot, "outside", models, frame_range=(5000, 5010)), PARAMS)


def test_missing_plate_frame_is_bad_input(tmp_path: Path, models: dict[str, Path]) -> None:
    write_plate(tmp_path, list(courtyard(3, *SIZE)), NUMBERS[:3])
    (tmp_path / "plate" / f"plate.{NUMBERS[1]}.png").unlink()
    ctx = context(tmp_path, "holes", models)
    ctx.frames = frame_map(NUMBERS[:3])
    with pytest.raises(BadInput, match="1 plate frame"):
        SPEC.run(ctx, PARAMS)


# --- plates -----------------------------------------------------------------------------


def test_exr_plates_go_in_display_referred(tmp_path: Path) -> None:
    """Linear EXR plates are converted back to sRGB encoding (what the network saw in
    training) with OCIO, from their ``colorspace`` attribute."""
    from vfx_ingest.depth.plates import open_plates
    from vfx_ingest.io import color
    from vfx_ingest.io.images import write_exr

    gen = np.random.default_rng(5)
    display = gen.uniform(0.05, 0.95, (6, 8, 3)).astype(np.float32)
    linear = color.convert(display, "sRGB Encoded Rec.709 (sRGB)", "Linear Rec.709 (sRGB)")
    (tmp_path / "plate").mkdir()
    for number in (1001, 1002):
        write_exr(
            tmp_path / "plate" / f"plate.{number}.exr",
            {"RGB": linear.astype(np.float16)},
            attributes={"colorspace": "Linear Rec.709 (sRGB)"},
        )
    plates = open_plates(tmp_path / "plate", [1001, 1002])
    assert (plates.ext, plates.count, plates.height, plates.width) == ("exr", 2, 6, 8)
    np.testing.assert_allclose(plates.load(1), display, atol=2e-3)


def test_png_plates_of_any_layout_become_rgb(tmp_path: Path) -> None:
    from vfx_ingest.depth.plates import open_plates
    from vfx_ingest.io.images import encode_png

    (tmp_path / "plate").mkdir()
    grey = np.full((4, 5), 300, np.uint16)
    rgba = np.zeros((4, 5, 4), np.uint8)
    (tmp_path / "plate" / "plate.1001.png").write_bytes(encode_png(grey))
    (tmp_path / "plate" / "plate.1002.png").write_bytes(encode_png(rgba))
    (tmp_path / "plate" / "plate.1003.png").write_bytes(encode_png(rgba[:2]))
    plates = open_plates(tmp_path / "plate", [1001, 1002, 1003])
    assert plates.load(0).shape == (4, 5, 3) and plates.load(0).dtype == np.uint16
    assert plates.load(1).shape == (4, 5, 3)
    with pytest.raises(BadInput, match="is 5x2, the first frame 5x4"):
        plates.load(2)


def test_a_chunk_needs_only_the_frames_it_reads(tmp_path: Path) -> None:
    """A remote chunk job is sent its range and the keyframes its windows read: those are
    what the stage declares (``chunk_context``) and all it checks for."""
    from vfx_ingest.depth.plates import open_plates

    numbers = [1001 + 2 * i for i in range(120)]  # stepped plate, 6 windows
    lo, hi = numbers[70], numbers[99]
    context = SPEC.chunk_context(numbers, (lo, hi))
    # Indices 70-99 are reached by windows 2-4 (starting at 44, 66, 88), which read the
    # clip's first frame, keyframes 34, 56 and 78, and frames 46-119; the first window
    # (0-31) runs too. Outside the range, that leaves:
    expected = [*range(32), 34, *range(46, 70), *range(100, 120)]
    assert context == [numbers[i] for i in expected]
    assert SPEC.chunk_context(numbers, (numbers[0], numbers[40])) == numbers[41:54]
    assert SPEC.chunk_context(numbers, (5000, 5010)) == []
    # A folder holding only those frames (and the range) opens for that chunk.
    present = set(context) | {n for n in numbers if lo <= n <= hi}
    write_plate(tmp_path, [np.zeros((4, 6, 3), np.uint8)] * len(present), sorted(present))
    reads = [numbers.index(n) for n in sorted(present)]
    plates = open_plates(tmp_path / "plate", numbers, reads)
    assert (plates.height, plates.width, plates.count) == (4, 6, 120)
    with pytest.raises(BadInput, match="plate frame"):
        open_plates(tmp_path / "plate", numbers)
