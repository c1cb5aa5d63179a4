"""Click, box and mask prompts tracked through a plate of any length in constant memory.

transformers' video sessions (``Sam2VideoInferenceSession``, SAM 3's tracker session) keep
every frame's pixels and every frame's outputs for the whole clip: about 12 MiB per frame
plus 5.75 MiB per object per frame at 1024. Tracking reads only the conditioning frames
(the prompts), the last ``num_maskmem`` frames' memories and the last
``max_object_pointers_in_encoder`` frames' object pointers, so ``TrackedClip`` adds
frames one at a time with an explicit ``frame_idx`` (without it, dropping frames shifts
the indices the session derives; ``FrameStore`` keeps the clip's frame count) and after
each frame drops its pixels, ``high_res_masks`` (only the memory encoder of that same step
reads them), and non-conditioning outputs further than
the memory window from the current frame and from the first prompt frame (a backward pass
starts there). Masks are identical to the unpruned session's (tests/test_roto_session.py).

The order is transformers' own: every prompt frame first (so conditioning frames on later
frames guide tracking before them, as in SAM 2), then forward from the first prompt frame
to the end, then (``both``) backward from it to the plate's first frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

# Builds a frame's network input (1x3xSxS) from its index in the plate.
FrameFn = Callable[[int], torch.Tensor]


@dataclass(frozen=True)
class ObjectInput:
    """One object's prompt on one frame, in network input coordinates."""

    obj_id: int
    points: list[tuple[float, float]]
    labels: list[int]  # 1: on the object, 0: background, 2/3: box corners
    mask: torch.Tensor | None = None  # 1x1xSxS 0/1, instead of points


@dataclass(frozen=True)
class Step:
    """The masks of one frame: low-resolution logits per object, and presence logits."""

    frame_idx: int
    obj_ids: list[int]
    logits: torch.Tensor  # Nx1xhxw
    scores: torch.Tensor  # N object-score logits (> 0: present)


class FrameStore(dict):
    """A session's frames: only the frame in use is held, but the session sees the whole
    clip's length, as when it was given every frame (its ``num_frames`` is the length of
    this dict and sets how many object pointers a step reads; transformers' streaming
    mode would also change SAM 3's hot start)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def __len__(self) -> int:
        return self.count


def memory_window(config: Any) -> int:
    """How many frames back a tracking step reads: memories and object pointers."""
    return max(int(config.num_maskmem), int(config.max_object_pointers_in_encoder))


class TrackedClip:
    """A tracker session over ``count`` frames fed from ``frame``, pruned when ``prune``."""

    def __init__(
        self,
        model: Any,
        session: Any,
        frame: FrameFn,
        count: int,
        *,
        prune: bool = True,
    ) -> None:
        self.model = model
        self.session = session
        session.processed_frames = FrameStore(count)
        self.frame = frame
        self.count = count
        self.prune = prune
        self.window = memory_window(model.config)

    def run(
        self,
        inputs: dict[int, list[ObjectInput]],
        *,
        both: bool = True,
        first: int = 0,
        last: int | None = None,
    ) -> Iterator[Step]:
        """Masks forward from the first prompt frame to ``last``, then (``both``) backward
        from it to ``first`` (default: the whole plate)."""
        if not inputs:
            return
        anchor = min(inputs)
        last = self.count - 1 if last is None else last
        with torch.inference_mode():
            for frame_idx in sorted(inputs):
                add_inputs(self.session, frame_idx, inputs[frame_idx])
                self._step(frame_idx, reverse=False, anchor=anchor)
            for frame_idx in range(anchor, last + 1):
                yield self._step(frame_idx, reverse=False, anchor=anchor)
            if both:
                for frame_idx in range(anchor - 1, first - 1, -1):
                    yield self._step(frame_idx, reverse=True, anchor=anchor)

    def _step(self, frame_idx: int, *, reverse: bool, anchor: int) -> Step:
        self.session.add_new_frame(self.frame(frame_idx), frame_idx)
        out = self.model(inference_session=self.session, frame_idx=frame_idx, reverse=reverse)
        step = Step(
            frame_idx=frame_idx,
            obj_ids=list(out.object_ids),
            logits=out.pred_masks,
            scores=out.object_score_logits.reshape(-1),
        )
        if self.prune:
            prune_session(self.session, frame_idx, anchor, self.window)
        return step


def add_inputs(session: Any, frame_idx: int, prompts: list[ObjectInput]) -> None:
    """Put prompts on a frame of a session, as transformers' processor does."""
    for prompt in prompts:
        obj_idx = session.obj_id_to_idx(prompt.obj_id)
        if prompt.mask is not None:
            session.add_mask_inputs(obj_idx, frame_idx, prompt.mask)
            session.remove_point_inputs(obj_idx, frame_idx)
            continue
        device = session.inference_device
        coords = torch.tensor([[prompt.points]], dtype=torch.float32, device=device)
        labels = torch.tensor([[prompt.labels]], dtype=torch.int32, device=device)
        session.add_point_inputs(
            obj_idx, frame_idx, {"point_coords": coords, "point_labels": labels}
        )
        session.remove_mask_inputs(obj_idx, frame_idx)
    session.obj_with_new_inputs = [p.obj_id for p in prompts]


def prune_session(session: Any, current: int, anchor: int, window: int) -> None:
    """Drop what no later step reads (see the module docstring); prompts stay."""

    def needed(frame_idx: int) -> bool:
        return abs(frame_idx - current) <= window or abs(frame_idx - anchor) <= window

    if session.processed_frames:
        session.processed_frames.clear()
    for outputs in session.output_dict_per_obj.values():
        for output in outputs["cond_frame_outputs"].values():
            output.pop("high_res_masks", None)
        tracked = outputs["non_cond_frame_outputs"]
        for frame_idx in [t for t in tracked if not needed(t)]:
            del tracked[frame_idx]
        for output in tracked.values():
            output.pop("high_res_masks", None)
            output.pop("pred_masks", None)
    for frames in session.frames_tracked_per_obj.values():
        for frame_idx in [t for t in frames if not needed(t)]:
            del frames[frame_idx]


def state_bytes(session: Any) -> int:
    """Bytes of every tensor a session holds (each storage counted once)."""
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [vars(session)]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.append(vars(item))
    return total
