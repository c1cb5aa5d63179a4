"""The matte stage and its library: trimaps, VitMatte on the band, the temporal filter,
guided upsampling, RVM's recurrent state, the files written, chunks and resume.

Networks are tiny random ones (``matte_helpers``) in the registry's file layout; plates
are soft-edged discs composited over a textured background with a known alpha, small
(96x64) so the suite stays quick.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_helpers import write_plate
from matte_helpers import (
    composite,
    disc_alpha,
    moving_discs,
    tiny_vitmatte,
    write_rvm,
    write_vitmatte,
)
from vfx_ingest.errors import BadInput, StageFailed
from vfx_ingest.frames import frame_path
from vfx_ingest.io.images import decode_png, encode_png, read_exr
from vfx_ingest.manifest import FrameInfo, FrameMap
from vfx_ingest.matte import resume
from vfx_ingest.matte.frames import read_matte
from vfx_ingest.matte.guided import guided_upsample, luma
from vfx_ingest.matte.temporal import Sample, Window, blend
from vfx_ingest.matte.trimap import make_trimap
from vfx_ingest.matte.vitmatte import VitMatteRunner, band_tiles
from vfx_ingest.stages import get_stage
from vfx_ingest.stages.base import Cancelled, PlanView, StageContext
from vfx_ingest.stages.matte import MatteParams

SPEC = get_stage("matte")
COUNT, WIDTH, HEIGHT = 12, 96, 64
NUMBERS = list(range(1001, 1001 + COUNT))
COLOURS = [(0.9, 0.2, 0.1), (0.1, 0.3, 0.9)]
LABELS = ["car", "hero"]
BAND = 4
PARAMS = MatteParams(trimap_band=BAND)


def frame_map(numbers: list[int]) -> FrameMap:
    return FrameMap(
        first=numbers[0],
        last=numbers[-1],
        count=len(numbers),
        frame_set=f"{numbers[0]}-{numbers[-1]}",
        width=WIDTH,
        height=HEIGHT,
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
    sink = events if events is not None else []
    return StageContext(
        stage="matte",
        shot_root=shot,
        staging=shot / ".staging" / staging,
        frames=frame_map(NUMBERS),
        frame_range=frame_range,
        models=models,
        on_progress=lambda done, total, message: sink.append((done, total, message)),
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    (root / "vitmatte-small").mkdir()
    return {
        "vitmatte-small": write_vitmatte(root / "vitmatte-small"),
        "rvm-mobilenetv3": write_rvm(root / "rvm-mobilenetv3"),
    }


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plate of two discs (the moving one is ``car``) and their roto masks."""
    root = tmp_path_factory.mktemp("shot")
    alphas = moving_discs(COUNT, HEIGHT, WIDTH)
    plate = [composite(a, COLOURS, grain=i + 1) for i, a in enumerate(alphas)]
    write_plate(root, plate, NUMBERS)
    for k, label in enumerate(LABELS):
        folder = root / "roto" / label
        folder.mkdir(parents=True)
        for number, frame in zip(NUMBERS, alphas, strict=True):
            mask = np.where(frame[k] >= 0.5, 255, 0).astype(np.uint8)
            (folder / frame_path("roto", number, "png")).write_bytes(encode_png(mask))
    return root


def matte_stack(folder: Path, numbers: list[int]) -> np.ndarray:
    return np.stack([read_matte(folder / frame_path("matte", n, "exr"))[0] for n in numbers])


def mask_of(shot: Path, label: str, number: int) -> np.ndarray:
    path = shot / "roto" / label / frame_path("roto", number, "png")
    return decode_png(path.read_bytes()) >= 128


# --- the library ---------------------------------------------------------------------------


def test_trimap_band_lies_around_the_edge_only() -> None:
    alpha = disc_alpha(80, 80, 40, 40, 20)
    mask = torch.from_numpy(alpha >= 0.5)
    trimap = make_trimap(mask, 5).numpy()
    assert set(np.unique(trimap)) == {0, 128, 255}
    y, x = np.mgrid[0:80, 0:80]
    distance = np.hypot(x - 40, y - 40) - 20  # signed distance to the edge
    assert (trimap[np.abs(distance) > 5 * 1.1 + 1] != 128).all()  # unknown only in the band
    assert (trimap[np.abs(distance) < 4] == 128).all()  # and all of the edge is unknown
    assert (trimap[distance < -7] == 255).all() and (trimap[distance > 7] == 0).all()


def test_trimap_work_on_the_mask_box_equals_the_whole_frame() -> None:
    """The morphology runs only on the mask's box grown by the band: the same trimap as on
    the whole frame, for masks touching the edges, empty and full ones included."""
    from vfx_ingest.matte.trimap import grow

    def whole(mask: torch.Tensor, band: int) -> torch.Tensor:
        trimap = torch.full(mask.shape, 128, dtype=torch.uint8)
        trimap[~grow(~mask, band)] = 255
        trimap[~grow(mask, band)] = 0
        return trimap

    generator = torch.Generator().manual_seed(0)
    masks = [torch.zeros(60, 80, dtype=torch.bool), torch.ones(60, 80, dtype=torch.bool)]
    for _ in range(12):
        mask = torch.zeros(60, 80, dtype=torch.bool)
        y, x = torch.randint(-10, 50, (2,), generator=generator).tolist()
        mask[max(0, y) : y + 25, max(0, x) : x + 30] = True
        mask[max(0, y + 5) : y + 8, max(0, x + 3) : x + 9] = False  # a hole
        masks.append(mask)
    for mask in masks:
        for band in (1, 3, 7):
            assert torch.equal(make_trimap(mask, band), whole(mask, band))


def test_only_tiles_around_the_band_run() -> None:
    unknown = torch.zeros(1500, 2000, dtype=torch.bool)
    unknown[100:110, 1700:1900] = True  # a short edge in one corner of one cell
    unknown[600:700, 20] = True  # a vertical one across two cells
    tiles = band_tiles(unknown, tile=512, margin=64)
    # One crop size (512 + 2 x 64), centred on the cell's unknown pixels, shifted inside
    # the frame; each answers for its cell within the crop.
    assert [(t.top, t.left, t.height, t.width, t.cell) for t in tiles] == [
        (0, 1360, 640, 640, (0, 512, 1536, 2000)),
        (330, 0, 640, 640, (512, 970, 0, 512)),
    ]
    covered = torch.zeros_like(unknown)
    for t in tiles:
        covered[t.top : t.top + t.height, t.left : t.left + t.width] = True
    assert covered[unknown].all() and covered.sum() < 0.3 * unknown.numel()
    assert band_tiles(torch.zeros(64, 96, dtype=torch.bool)) == []


def test_vitmatte_keeps_known_pixels_and_fills_the_band() -> None:
    alpha = disc_alpha(HEIGHT, WIDTH, 40, 30, 18)
    plate = torch.from_numpy(composite([alpha], COLOURS[:1])).permute(2, 0, 1).float() / 255
    trimap = make_trimap(torch.from_numpy(alpha >= 0.5), BAND)
    runner = VitMatteRunner(tiny_vitmatte(), "cpu")
    result = runner(plate, trimap)
    known = trimap != 128
    torch.testing.assert_close(result[known], (trimap[known] == 255).float(), rtol=0, atol=0)
    band = result[~known]
    assert band.min() >= 0 and band.max() <= 1 and band.std() > 0  # the network's values
    assert runner.tiles == 1 and 0 < runner.pixels <= HEIGHT * WIDTH
    # On a grid finer than the frame, every band pixel still gets the network's answer.
    tiled = VitMatteRunner(tiny_vitmatte(), "cpu", batch=3, tile=32, margin=8)
    result = tiled(plate, trimap)
    assert tiled.tiles >= 4  # the band crosses several cells
    torch.testing.assert_close(result[known], (trimap[known] == 255).float(), rtol=0, atol=0)
    assert ((result[~known] > 0) & (result[~known] < 1)).all()


def test_guided_upsampling_follows_the_plate_edges() -> None:
    """An alpha made at half size comes back at full size following the full-size edge
    better than a bilinear resize of it."""
    truth = disc_alpha(128, 128, 64, 64, 40)
    guide = torch.from_numpy(truth)  # the plate's luma is the alpha itself here
    small = torch.nn.functional.interpolate(guide[None, None], size=(64, 64), mode="area")[0, 0]
    up = guided_upsample(small, small, guide)
    bilinear = torch.nn.functional.interpolate(small[None, None], size=(128, 128), mode="bilinear")[
        0, 0
    ]
    error = (up.clamp(0, 1) - guide).abs().mean()
    assert error < 0.5 * (bilinear - guide).abs().mean()
    assert luma(torch.ones(3, 2, 2)).allclose(torch.ones(2, 2))


def test_temporal_filter_averages_still_pixels_and_spares_moving_ones() -> None:
    gen = torch.Generator().manual_seed(0)
    still = torch.full((3, 4, 4), 0.5)
    unknown = torch.ones(4, 4, dtype=torch.bool)
    unknown[0, 0] = False
    noisy = [Sample(0.5 + 0.2 * torch.rand(4, 4, generator=gen), still, unknown) for _ in range(5)]
    smoothed = blend(noisy[2], noisy[:2] + noisy[3:])
    mean = torch.stack([s.alpha for s in noisy]).mean(0)
    torch.testing.assert_close(smoothed[unknown], mean[unknown])
    assert smoothed[0, 0] == noisy[2].alpha[0, 0]  # known pixels untouched
    moved = Sample(torch.zeros(4, 4), torch.zeros(3, 4, 4), unknown)  # another colour
    torch.testing.assert_close(blend(noisy[2], [moved]), noisy[2].alpha, atol=1e-6, rtol=0)


def test_window_streams_the_same_frames_as_a_whole_pass_in_any_part() -> None:
    """Windows cut at the clip's ends only: a part of the clip (a chunk, a resumed run)
    given its neighbours gives the same frames as the whole."""
    gen = torch.Generator().manual_seed(1)
    everywhere = torch.ones(3, 3, dtype=torch.bool)
    samples = [
        Sample(torch.rand(3, 3, generator=gen), torch.rand(3, 3, 3, generator=gen), everywhere)
        for _ in range(10)
    ]

    def stream(computed: tuple[int, int], wanted: tuple[int, int]) -> dict[int, torch.Tensor]:
        window = Window(2, computed, wanted)
        out = {}
        for i in range(computed[0], computed[1] + 1):
            out.update(dict(window.push(i, samples[i])))
        return out

    whole = stream((0, 9), (0, 9))
    assert sorted(whole) == list(range(10))
    part = stream((3, 9), (5, 9))
    assert sorted(part) == [5, 6, 7, 8, 9]
    for i in part:
        torch.testing.assert_close(part[i], whole[i], rtol=0, atol=0)


# --- the stage ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_pass(shot: Path, models: dict[str, Path]) -> tuple[Path, object, list]:
    events: list = []
    ctx = context(shot, "full", models, events=events)
    params = PARAMS.model_copy(update={"foreground": True, "png": True})
    result = SPEC.run(ctx, params)
    return ctx.staging / "matte", result, events


def test_two_roto_objects_give_two_folders_of_every_frame(single_pass: tuple) -> None:
    folder, result, events = single_pass
    assert sorted(p.name for p in folder.iterdir()) == LABELS
    for label in LABELS:
        names = sorted(p.name for p in (folder / label).glob("matte.*.exr"))
        assert names == [frame_path("matte", n, "exr") for n in NUMBERS]
    assert result.stats["objects"] == LABELS and result.stats["frames"] == COUNT
    assert result.stats["notes"] == []  # Apache-2.0
    assert events[-1][:2] == (2 * COUNT, 2 * COUNT)


def test_exr_is_one_half_channel_of_straight_alpha_with_its_header(
    single_pass: tuple, shot: Path
) -> None:
    import OpenEXR

    folder = single_pass[0]
    path = folder / "hero" / "matte.1005.exr"
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        header = dict(exr.header())  # a copy: reading channels empties it
        assert list(channels) == ["A"]
        assert channels["A"].pixels.dtype == np.float16
        assert channels["A"].pixels.shape == (HEIGHT, WIDTH)
    assert header["vfxingest/model"] == "vitmatte-small"
    assert header["vfxingest/model_license"] == "Apache-2.0"
    assert header["vfxingest/trimap_band"] == str(BAND)
    assert header["vfxingest/alpha"].startswith("straight")
    for label in LABELS:
        for number in (1001, 1012):
            alpha = read_matte(folder / label / frame_path("matte", number, "exr"))[0]
            mask = torch.from_numpy(mask_of(shot, label, number))
            trimap = make_trimap(mask, BAND).numpy()
            assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
            band = alpha[trimap == 128]
            assert band.min() >= 0 and band.max() <= 1
            assert ((band > 0) & (band < 1)).mean() > 0.5  # soft where the band is
            # Straight: fully inside is 1 whatever the plate's colour there (a dark blue
            # disc), which a premultiplied alpha would not be.
            assert alpha[trimap == 255].size > 0


def test_foreground_is_plate_times_alpha_and_pngs_are_16_bit(
    single_pass: tuple, shot: Path
) -> None:
    folder = single_pass[0]
    alpha = read_matte(folder / "car" / "matte.1003.exr")[0]
    channels, _ = read_exr(folder / "car" / "foreground" / "foreground.1003.exr")
    plate = decode_png((shot / "plate" / "plate.1003.png").read_bytes()).astype(np.float32) / 255
    assert list(channels) == ["RGBA"] and channels["RGBA"].dtype == np.float16  # R, G, B, A
    rgba = channels["RGBA"].astype(np.float32)
    np.testing.assert_allclose(rgba[..., :3], plate * alpha[..., None], atol=2e-3)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    png = decode_png((folder / "car" / "png" / "matte.1003.png").read_bytes())
    assert png.dtype == np.uint16
    assert np.abs(png / 65535.0 - alpha).max() < 1e-3


def test_the_temporal_filter_smooths_the_still_object(shot: Path, models: dict[str, Path]) -> None:
    """The still disc's band, under film grain, changes less from frame to frame with the
    filter than without (by more than a third)."""
    ctx = context(shot, "no-filter", models)
    SPEC.run(ctx, PARAMS.model_copy(update={"temporal": 0}))
    raw = matte_stack(ctx.staging / "matte" / "hero", NUMBERS)
    filtered = matte_stack(Path(ctx.staging.parent / "full" / "matte" / "hero"), NUMBERS)
    assert np.abs(np.diff(raw, axis=0)).sum() > 0  # it boils
    assert np.abs(np.diff(filtered, axis=0)).sum() < 0.67 * np.abs(np.diff(raw, axis=0)).sum()


def test_above_the_internal_size_alpha_is_guided_up_to_the_plate(
    shot: Path, models: dict[str, Path]
) -> None:
    ctx = context(shot, "internal", models, frame_range=(1001, 1003))
    result = SPEC.run(ctx, PARAMS.model_copy(update={"max_internal_size": 48}))
    alpha = read_matte(ctx.staging / "matte" / "car" / "matte.1001.exr")[0]
    assert alpha.shape == (HEIGHT, WIDTH)
    trimap = make_trimap(torch.from_numpy(mask_of(shot, "car", 1001)), BAND).numpy()
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert result.stats["network_pixels"] < 2 * 3 * HEIGHT * WIDTH  # worked at 48x32


def test_chunks_stitched_equal_a_single_pass(
    shot: Path, models: dict[str, Path], single_pass: tuple
) -> None:
    """Each chunk writes the frames whose whole filter window it holds (the clip's ends
    included); the overlap of 2 x radius frames makes the chunks meet."""
    ranges = [(1001, 1008), (1004, 1012)]
    writes = [range(1001, 1007), range(1006, 1013)]
    folders = []
    for k, frames in enumerate(ranges):
        ctx = context(shot, f"chunk{k}", models, frame_range=frames)
        SPEC.run(ctx, PARAMS)
        written = sorted(p.name for p in (ctx.staging / "matte" / "car").glob("*.exr"))
        assert written == [frame_path("matte", n, "exr") for n in writes[k]]
        folders.append(ctx.staging)
    final = context(shot, "stitched", models)
    SPEC.stitch(final, list(reversed(folders)))
    for label in LABELS:
        np.testing.assert_array_equal(
            matte_stack(final.staging / "matte" / label, NUMBERS),
            matte_stack(single_pass[0] / label, NUMBERS),
        )
    with pytest.raises(StageFailed, match="leave out"):
        SPEC.stitch(context(shot, "half", models), folders[:1])


def interrupted(
    shot: Path, models: dict[str, Path], name: str, params: MatteParams, stop: int
) -> Path:
    ctx = context(shot, name, models)

    def on_progress(done: int, total: int, message: str) -> None:
        if done >= stop:
            ctx.cancel_event.set()

    ctx.on_progress = on_progress
    with pytest.raises(Cancelled):
        SPEC.run(ctx, params)
    return ctx.staging


def test_a_cancelled_run_resumes_from_its_staged_frames(
    shot: Path, models: dict[str, Path], single_pass: tuple
) -> None:
    params = PARAMS.model_copy(update={"foreground": True, "png": True})
    staging = interrupted(shot, models, "resumed", params, stop=COUNT + 4)
    written = sorted(p.name for p in (staging / "matte" / "hero").glob("matte.*.exr"))
    assert 0 < len(written) < COUNT  # car done, hero part-way
    result = SPEC.run(context(shot, "resumed", models), params)
    assert result.stats["resumed_frames"] == COUNT + len(written)
    for label in LABELS:
        for sub, kind in (("", "matte"), ("foreground/", "foreground")):
            for number in NUMBERS:
                name = f"{label}/{sub}{frame_path(kind, number, 'exr')}"
                a, _ = read_exr(staging / "matte" / name)
                b, _ = read_exr(single_pass[0] / name)
                for channel in b:
                    np.testing.assert_array_equal(a[channel], b[channel])


def test_rvm_mattes_people_without_roto_and_resumes_its_state(
    tmp_path: Path, shot: Path, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "bare"
    (bare / "plate").mkdir(parents=True)
    for number in NUMBERS:
        source = shot / "plate" / frame_path("plate", number, "png")
        (bare / "plate" / source.name).write_bytes(source.read_bytes())
    params = MatteParams(model="rvm-mobilenetv3")
    events: list = []
    whole = context(bare, "rvm", models, events=events)
    result = SPEC.run(whole, params)
    assert result.stats["objects"] == ["people"]
    notes = [m for _, _, m in events if m.startswith("note:")]
    assert notes == ["note: rvm-mobilenetv3 weights are GPL-3.0: commercial use allowed, copyleft"]
    reference = matte_stack(whole.staging / "matte" / "people", NUMBERS)
    _, header = read_matte(whole.staging / "matte" / "people" / "matte.1001.exr")
    assert header["vfxingest/trimap_band"].startswith("none")
    assert reference.min() >= 0 and reference.max() <= 1
    # The recurrent state is carried: frame 1002 alone (a fresh state) differs.
    from vfx_ingest.matte.models import find_model, load_rvm
    from vfx_ingest.matte.rvm import RvmRunner
    from vfx_ingest.models.registry import load_registry

    network = load_rvm(find_model("rvm-mobilenetv3", load_registry()), models["rvm-mobilenetv3"])
    plate = decode_png((bare / "plate" / "plate.1002.png").read_bytes()) / np.float32(255)
    assert np.abs(RvmRunner(network, "cpu")(plate) - reference[1]).max() > 1e-3

    monkeypatch.setattr(resume, "EVERY_S", 0.0)
    staging = interrupted(bare, models, "rvm-resumed", params, stop=5)
    assert (staging / resume.CHECKPOINT).is_file()
    stats = SPEC.run(context(bare, "rvm-resumed", models), params).stats
    assert stats["resumed_frames"] >= 5
    assert not (staging / resume.CHECKPOINT).exists()
    np.testing.assert_array_equal(matte_stack(staging / "matte" / "people", NUMBERS), reference)


# --- bad input ------------------------------------------------------------------------------


def test_models_follow_the_registry_and_matanyone_is_not_run() -> None:
    from vfx_ingest.matte.models import MODEL_IDS, matte_model
    from vfx_ingest.models.registry import load_registry

    registry = load_registry()
    matte = [m for m in registry.models.values() if m.stage == "matte"]
    runnable = [m.id for m in matte if m.family != "matanyone"]
    assert tuple(runnable) == MODEL_IDS == SPEC.models
    assert registry.default_for("matte").id == "vitmatte-small"
    for model_id in ("vitmatte-small", "vitmatte-base"):
        entry = registry.get(model_id)
        assert entry.license == "Apache-2.0" and "Composition-1k" in entry.notes
    rvm = matte_model(registry.get("rvm-resnet50"))
    assert rvm.files == ("rvm_resnet50_fp32.torchscript",) and not rvm.needs_roto
    # VitMatte splits into chunks; RVM's recurrent state runs through the clip in one job.
    assert SPEC.chunkable(PARAMS) and not SPEC.chunkable(MatteParams(model="rvm-resnet50"))
    view = PlanView(shot_root=Path("/nonexistent"), params={})
    with pytest.raises(BadInput, match="matanyone is not runnable by the matte stage"):
        SPEC.settle(MatteParams(model="matanyone"), view)


def test_no_roto_pass_is_bad_input_naming_the_stages_to_run(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    view = PlanView(shot_root=tmp_path, params={})
    with pytest.raises(BadInput, match=r"no roto pass.*--stages roto,matte"):
        SPEC.settle(PARAMS, view)
    # With roto in the same run, or RVM, the plan goes on.
    assert SPEC.settle(PARAMS, PlanView(shot_root=tmp_path, params={"roto": PARAMS})) == PARAMS
    rvm = MatteParams(model="rvm-mobilenetv3")
    assert SPEC.settle(rvm, view) == rvm
    write_plate(tmp_path, [np.zeros((HEIGHT, WIDTH, 3), np.uint8)], NUMBERS[:1])
    with pytest.raises(BadInput, match="no roto pass"):
        SPEC.run(context(tmp_path, "x", models), PARAMS)
