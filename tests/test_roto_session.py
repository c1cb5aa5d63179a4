"""The roto sessions on tiny random checkpoints: pruning keeps memory flat and masks
identical to transformers' own unpruned session, mask prompts seed tracking, corrections
on later frames condition from their frame, text prompts track instances.

Random weights segment nothing in particular, so these check what does not depend on
trained weights: which frames and ids come out, what the session holds, and equality with
transformers' reference code path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from roto_helpers import disc_frames, tiny_sam2_files, tiny_sam3_files, write_files
from vfx_ingest.roto.models import load_network
from vfx_ingest.roto.pixels import mask_input, network_image
from vfx_ingest.roto.tracker import (
    ObjectInput,
    TrackedClip,
    add_inputs,
    memory_window,
    state_bytes,
)

WIDTH, HEIGHT = 96, 64


@pytest.fixture(scope="module")
def sam2(tmp_path_factory: pytest.TempPathFactory):
    folder = write_files(tmp_path_factory.mktemp("sam2"), tiny_sam2_files())
    return load_network("sam2.1-hiera-tiny", folder, text=False, device="cpu", precision="auto")


def pixels(network, count: int) -> list[torch.Tensor]:
    """Network inputs of a plate with a moving disc (frames repeat after 40)."""
    frames = disc_frames(40, WIDTH, HEIGHT)
    inputs = [network_image(f, network.input, "cpu", network.dtype) for f in frames]
    return [inputs[i % len(inputs)] for i in range(count)]


def new_session(network, video: torch.Tensor | None = None):
    return network.session_class(
        video=video, video_height=HEIGHT, video_width=WIDTH, dtype=network.dtype
    )


def click(network, obj_id: int, x: float, y: float) -> ObjectInput:
    scale = network.input.size
    return ObjectInput(obj_id, [(x * scale / WIDTH, y * scale / HEIGHT)], [1])


def reference(network, frames: list[torch.Tensor], inputs: dict[int, list[ObjectInput]]):
    """transformers' own way: the whole video in the session, every prompt added, then
    ``propagate_in_video_iterator`` forward and backward; nothing is ever dropped."""
    session = new_session(network, torch.cat(frames))
    masks = {}
    anchor = min(inputs)
    with torch.inference_mode():
        for frame_idx in sorted(inputs):
            add_inputs(session, frame_idx, inputs[frame_idx])
            network.model(inference_session=session, frame_idx=frame_idx)
        for out in network.model.propagate_in_video_iterator(session, start_frame_idx=anchor):
            masks[out.frame_idx] = out.pred_masks.clone()
        for out in network.model.propagate_in_video_iterator(
            session, start_frame_idx=anchor, reverse=True
        ):
            masks.setdefault(out.frame_idx, out.pred_masks.clone())
    return masks, state_bytes(session)


def test_pruned_session_stays_flat_from_40_to_200_frames_with_identical_masks(sam2) -> None:
    frames = pixels(sam2, 200)
    inputs = {
        2: [click(sam2, 1, 20, 20), click(sam2, 2, 70, 40)],
        60: [click(sam2, 1, 140 - 20, 80 - 20)],  # a correction, far from the first prompt
    }
    session = new_session(sam2)
    clip = TrackedClip(sam2.model, session, frames.__getitem__, len(frames))
    ours, sizes = {}, {}
    for step in clip.run(inputs):
        ours[step.frame_idx] = step.logits.clone()
        sizes[step.frame_idx] = state_bytes(session)
        assert step.obj_ids == [1, 2]
    assert sorted(ours) == list(range(200))
    # Past the memory window around both prompt frames the state no longer grows.
    window = memory_window(sam2.model.config)
    assert 60 + window < 100
    assert sizes[100] == sizes[150] == sizes[199]
    assert sizes[40] <= sizes[199] < 2 * sizes[40]
    # No pixels are held, yet the session still sees the clip's length.
    assert not list(session.processed_frames) and len(session.processed_frames) == 200
    expected, unpruned = reference(sam2, frames, inputs)
    assert unpruned > 20 * sizes[199]
    for frame_idx, logits in expected.items():
        assert torch.equal(ours[frame_idx], logits), frame_idx


def test_a_mask_prompt_seeds_tracking(sam2) -> None:
    frames = pixels(sam2, 12)
    seed = np.zeros((HEIGHT, WIDTH), bool)
    seed[10:40, 10:50] = True
    inputs = {0: [ObjectInput(1, [], [], mask=mask_input(seed, sam2.input.size, "cpu"))]}
    steps = list(TrackedClip(sam2.model, new_session(sam2), frames.__getitem__, 12).run(inputs))
    assert [s.frame_idx for s in steps] == list(range(12))
    from vfx_ingest.roto.pixels import binary_masks, upsample_logits

    first = binary_masks(upsample_logits(steps[0].logits, HEIGHT, WIDTH), 0.5)[0]
    iou = np.count_nonzero(first & seed) / np.count_nonzero(first | seed)
    assert iou > 0.9  # a mask prompt is taken as the frame's mask
    assert all(s.logits.shape == steps[0].logits.shape for s in steps)


def test_a_correction_conditions_tracking_from_its_frame(sam2) -> None:
    frames = pixels(sam2, 24)
    first = {0: [click(sam2, 1, 20, 20)]}
    corrected = {**first, 15: [click(sam2, 1, 50, 35)]}
    alone = {15: [click(sam2, 1, 50, 35)]}

    def run(inputs):
        clip = TrackedClip(sam2.model, new_session(sam2), frames.__getitem__, 24)
        return {s.frame_idx: s.logits for s in clip.run(inputs, both=False)}

    plain, fixed, only = run(first), run(corrected), run(alone)
    # The corrected frame is a conditioning frame: its mask comes from its clicks alone,
    # as if it were the only prompt, and it changes what tracking gives there.
    assert torch.equal(fixed[15], only[15])
    assert not torch.equal(fixed[15], plain[15])
    # Before the first prompt nothing is tracked forward-only; after it, every frame is.
    assert sorted(fixed) == list(range(24)) and sorted(only) == list(range(15, 24))


def test_text_prompts_track_instances_and_prune_identically(tmp_path) -> None:
    from vfx_ingest.roto.text import TextClip

    folder = write_files(tmp_path / "sam3", tiny_sam3_files())
    network = load_network("sam3", folder, text=True, device="cpu", precision="auto")
    network.model.score_threshold_detection = 0.15
    frames = pixels(network, 20)

    def run(prune: bool):
        clip = TextClip(network, folder, ["person", "ball"], HEIGHT, WIDTH, 20, "cpu", prune=prune)
        out = {
            i: {k: v[0].clone() for k, v in seen.items()}
            for i, seen in clip.run(frames.__getitem__, 0, 19)
        }
        return clip, out

    clip, pruned = run(True)
    _, unpruned = run(False)
    assert sorted(pruned) == list(range(20))
    ids = {k for seen in pruned.values() for k in seen}
    assert ids and {clip.concept_of(k) for k in ids} <= {"person", "ball"}
    for frame_idx, seen in unpruned.items():
        assert sorted(seen) == sorted(pruned[frame_idx])
        assert all(torch.equal(seen[k], pruned[frame_idx][k]) for k in seen)
