"""Joining text-prompt chunks: instances matched across the overlap by mask IoU with an
optimal assignment, the later chunk owning the overlap; clean-up of single masks.

The chunks are written by the stage's own mask writer from hand-built masks, so the files
are exactly what chunk jobs produce.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vfx_ingest.io.images import decode_png
from vfx_ingest.roto.cleanup import Cleanup, drop_islands, fill_holes, grow
from vfx_ingest.roto.output import MaskWriter
from vfx_ingest.roto.stitch import stitch_chunks

W, H = 40, 30
PROMPTS = json.dumps({"objects": [{"label": "person", "text": "person"}]})


def box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def write_chunk(folder: Path, numbers: list[int], objects: dict[str, dict[int, np.ndarray]]):
    def write(rel: str, data: bytes) -> None:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)

    writer = MaskWriter(write, numbers, W, H)
    for k, (label, masks) in enumerate(objects.items(), start=1):
        writer.add_object(label, k, "person")
        for number, mask in masks.items():
            writer.mask(label, number, mask, 0.9, None)
    writer.finish(soft=False, header={"model": {"id": "sam3"}, "input": "x"}, prompts=PROMPTS)
    return folder


def read_mask(folder: Path, label: str, number: int) -> np.ndarray:
    return decode_png((folder / label / f"roto.{number:04d}.png").read_bytes()) > 0


def test_swapped_ids_are_matched_back_and_the_later_chunk_owns_the_overlap(tmp_path) -> None:
    left, right = box(0, 0, 10, 10), box(25, 15, 35, 25)
    moved_left = box(1, 0, 11, 10)  # the later chunk's slightly different mask
    first = write_chunk(
        tmp_path / "a",
        [1001, 1002, 1003, 1004],
        {"person_01": dict.fromkeys([1001, 1002, 1003, 1004], left),
         "person_02": dict.fromkeys([1001, 1002, 1003, 1004], right)},
    )  # fmt: skip
    # The second chunk found the same two people in the other order, and a third one.
    second = write_chunk(
        tmp_path / "b",
        [1003, 1004, 1005, 1006],
        {"person_01": dict.fromkeys([1003, 1004, 1005, 1006], right),
         "person_02": dict.fromkeys([1003, 1004, 1005, 1006], moved_left),
         "person_03": {1006: box(15, 5, 20, 10)}},
    )  # fmt: skip
    out = tmp_path / "out"
    events: list[tuple[int, int]] = []

    def write(rel: str, data: bytes) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)

    stitch_chunks([second, first], write, lambda done, total: events.append((done, total)))
    assert sorted(p.name for p in out.iterdir()) == [
        "objects.json", "person_01", "person_02", "person_03", "prompts.json",
    ]  # fmt: skip
    for number in range(1001, 1007):
        # person_01 stays the left one, person_02 the right one, in both chunks.
        assert read_mask(out, "person_02", number).sum() == right.sum()
        expected_left = left if number < 1003 else moved_left  # the overlap is the later's
        assert np.array_equal(read_mask(out, "person_01", number), expected_left)
        assert read_mask(out, "person_03", number).any() == (number == 1006)
    document = json.loads((out / "objects.json").read_text())
    assert document["frames"]["numbers"] == list(range(1001, 1007))
    by_label = {o["label"]: o for o in document["objects"]}
    assert by_label["person_01"]["frames_present"] == 6
    assert by_label["person_03"]["first"] == by_label["person_03"]["last"] == 1006
    assert events[-1] == (6, 6)


def test_an_instance_gone_in_the_overlap_is_not_matched(tmp_path) -> None:
    first = write_chunk(
        tmp_path / "a", [1, 2, 3], {"person_01": dict.fromkeys([1, 2, 3], box(0, 0, 8, 8))}
    )
    second = write_chunk(tmp_path / "b", [3, 4], {"person_01": {4: box(30, 20, 38, 28)}})
    out = tmp_path / "out"

    def write(rel: str, data: bytes) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)

    stitch_chunks([first, second], write, lambda done, total: None)
    assert not read_mask(out, "person_01", 4).any()  # the new one is someone else
    assert read_mask(out, "person_02", 4).any()


def test_cleanup_grows_shrinks_fills_and_drops() -> None:
    mask = box(10, 10, 30, 20)
    assert grow(mask, 2).sum() > mask.sum() and grow(mask, -2).sum() < mask.sum()
    grown = grow(mask, 2)  # a disc: 2 px out along the edges, less at the corners
    assert grown[8, 20] and grown[15, 31] and not grown[7, 20] and not grown[8, 8]
    assert np.array_equal(grow(mask, -2), box(12, 12, 28, 18))
    holed = mask.copy()
    holed[14:16, 18:20] = False  # a 4-pixel hole
    assert np.array_equal(fill_holes(holed, 5), mask)
    assert np.array_equal(fill_holes(holed, 4), holed)
    speck = mask | box(0, 0, 2, 2)
    assert np.array_equal(drop_islands(speck, 5), mask)
    assert np.array_equal(
        Cleanup(min_area=5, fill_holes=5).apply(speck & holed | box(0, 0, 2, 2)), mask
    )
    edge = box(0, 0, 10, 10)  # touching the frame: shrinking moves that edge too
    assert not grow(edge, -1)[0].any()


def test_only_text_prompts_fan_out(monkeypatch) -> None:
    from fractions import Fraction

    from vfx_ingest import fanout
    from vfx_ingest.manifest import FrameInfo, FrameMap
    from vfx_ingest.stages import get_stage
    from vfx_ingest.stages.base import StageContext
    from vfx_ingest.stages.roto import RotoParams
    from vfx_ingest.worker import Ran

    numbers = list(range(1001, 1401))
    infos = [FrameInfo(frame=n, source_index=n - 1001, time=0) for n in numbers]
    frames = FrameMap(
        first=1001, last=1400, count=400, frame_set="1001-1400", width=W, height=H,
        fps=Fraction(24), frames=infos,
    )  # fmt: skip
    ctx = StageContext(stage="roto", shot_root=Path("."), staging=Path("."), frames=frames)
    chunked: list = []
    monkeypatch.setattr(fanout, "run_chunked", lambda ctx, spec, ranges, *a: chunked.append(ranges))
    single: list = []

    def one(rng, dest, report, stop) -> Ran:
        single.append(rng)
        return Ran(result=None)  # type: ignore[arg-type]

    spec = get_stage("roto")
    fanout.run_stage(ctx, spec, one, 4, RotoParams(points="1001:1,1", label="a"))
    assert single == [None] and not chunked
    fanout.run_stage(ctx, spec, one, 4, RotoParams(prompt="person"))
    assert len(chunked) == 1 and len(chunked[0]) == 4
