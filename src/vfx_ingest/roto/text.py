"""Text prompts: SAM 3 finds every instance of each concept and tracks each with its own id.

``Sam3VideoModel`` detects on every frame and hands detections to its tracker. Its
processor needs torchvision, so the text is tokenized here with ``tokenizers`` from the
checkpoint's ``tokenizer.json`` (padded to 32 tokens, as the processor does). Frames are
added one at a time with an explicit ``frame_idx`` (``tracker.FrameStore``) and the
session is pruned after each frame as the tracker's is (``tracker.prune_session``), plus
its per-frame bookkeeping outside the memory window. Outputs are held back
``hotstart_delay`` frames, as transformers' own propagation does, so instances SAM 3
drops as duplicates or flickers never appear.
Instances are numbered per concept in the order they first appear: ``person_01``...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import BadInput
from .prompts import RotoPrompts
from .tracker import FrameStore, memory_window, prune_session

TEXT_TOKENS = 32  # SAM 3's processor pads and truncates text to this length
TOKENIZER = "tokenizer.json"


class TextTokenizer:
    """SAM 3's CLIP tokenizer, read from the checkpoint folder's ``tokenizer.json``."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        path = directory / TOKENIZER
        if not path.is_file():
            raise BadInput(
                f"the SAM 3 checkpoint has no {TOKENIZER}, which text prompts need",
                where=str(directory),
                fix="Run `vfx-ingest models sync sam3`",
            )
        self.tokenizer = Tokenizer.from_file(str(path))
        pad = self.tokenizer.padding
        pad_token = pad["pad_token"] if pad else "<|endoftext|>"
        pad_id = self.tokenizer.token_to_id(pad_token)
        self.tokenizer.enable_padding(length=TEXT_TOKENS, pad_id=pad_id or 0, pad_token=pad_token)
        self.tokenizer.enable_truncation(TEXT_TOKENS)

    def encode(self, text: str, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and attention mask, 1x32 each."""
        encoding = self.tokenizer.encode(text)
        ids = torch.tensor([encoding.ids], dtype=torch.long, device=device)
        mask = torch.tensor([encoding.attention_mask], dtype=torch.long, device=device)
        return ids, mask


class TextClip:
    """A ``Sam3VideoModel`` session over plate indices ``first``..``last``, streamed."""

    def __init__(
        self,
        network: Any,
        directory: Path,
        concepts: list[str],
        height: int,
        width: int,
        count: int,
        device: str,
        *,
        prune: bool = True,
    ) -> None:
        self.model = network.model
        self.prune = prune
        self.session = network.session_class(
            video_height=height,
            video_width=width,
            inference_device=device,
            inference_state_device=device,
            video_storage_device=device,
            dtype=network.dtype,
        )
        self.session.processed_frames = FrameStore(count)
        tokenizer = TextTokenizer(directory)
        self.prompt_ids: dict[str, int] = {}
        for concept in concepts:
            prompt_id = self.session.add_prompt(concept)
            ids, mask = tokenizer.encode(concept, device)
            self.session.prompt_input_ids[prompt_id] = ids
            self.session.prompt_attention_masks[prompt_id] = mask
            self.prompt_ids[concept] = prompt_id
        self.window = memory_window(self.model.tracker_model.config)

    def run(self, frame: Callable[[int], torch.Tensor], first: int, last: int) -> Any:
        """(frame index, {obj id: (low-res logits 1xhxw, score)}) for every frame, in order,
        without the instances SAM 3 drops during its hot start."""
        delay = max(int(self.model.hotstart_delay), 0)
        held: deque[Any] = deque()
        with torch.inference_mode():
            for frame_idx in range(first, last + 1):
                self.session.add_new_frame(frame(frame_idx), frame_idx)
                out = self.model(inference_session=self.session, frame_idx=frame_idx)
                self.session.hotstart_removed_obj_ids.update(out.removed_obj_ids)
                held.append(out)
                if self.prune:
                    self._prune(frame_idx, first)
                while len(held) > delay or (frame_idx == last and held):
                    yield self._visible(held.popleft())

    def concept_of(self, obj_id: int) -> str:
        return self.session.prompts[self.session.obj_id_to_prompt_id[obj_id]]

    def _visible(self, out: Any) -> tuple[int, dict[int, tuple[torch.Tensor, float]]]:
        hidden = set(out.suppressed_obj_ids or ()) | set(self.session.hotstart_removed_obj_ids)
        tracker_scores = out.obj_id_to_tracker_score or {}
        visible = {
            obj_id: (mask, float(tracker_scores.get(obj_id, out.obj_id_to_score[obj_id])))
            for obj_id, mask in out.obj_id_to_mask.items()
            if obj_id not in hidden
        }
        return out.frame_idx, visible

    def _prune(self, current: int, anchor: int) -> None:
        session = self.session
        prune_session(session, current, anchor, self.window)
        # Frame-indexed bookkeeping the detector-tracker fusion only reads near the
        # current frame (hot start, occlusion and keep-alive look back a few frames).
        horizon = max(self.window, int(self.model.hotstart_delay))
        for per_frame in (session.suppressed_obj_ids,):
            for frame_idx in [t for t in per_frame if t < current - horizon]:
                del per_frame[frame_idx]
        for scores in session.obj_id_to_tracker_score_frame_wise.values():
            for frame_idx in [t for t in scores if t < current - horizon]:
                del scores[frame_idx]


def run_text(
    network: Any,
    plates: Any,
    objects: RotoPrompts,
    lo: int,
    hi: int,
    masks: Any,
    options: Any,
    device: str,
    progress: Callable[..., None],
    directory: Path,
) -> None:
    """Detect and track every instance of each concept over plate indices lo..hi."""
    from .pixels import network_image

    network.model.score_threshold_detection = options.detection
    labels_of = {o.text: o.label for o in objects.objects if o.text is not None}
    clip = TextClip(
        network, directory, list(labels_of), plates.height, plates.width, plates.count, device
    )
    names: dict[int, str] = {}
    counts: dict[str, int] = {}

    def frame(i: int) -> torch.Tensor:
        return network_image(plates.load(i), network.input, device, network.dtype)

    total = hi - lo + 1
    for done, (frame_idx, visible) in enumerate(clip.run(frame, lo, hi), start=1):
        for obj_id in sorted(visible):
            if obj_id not in names:
                concept = clip.concept_of(obj_id)
                counts[concept] = counts.get(concept, 0) + 1
                names[obj_id] = f"{labels_of[concept]}_{counts[concept]:02d}"
                masks.writer.add_object(names[obj_id], len(names), concept)
        ids = sorted(visible)
        if ids:
            logits = torch.stack([visible[i][0].reshape(visible[i][0].shape[-2:]) for i in ids])
            logits = exclusive(logits, [visible[i][1] for i in ids], [names[i] for i in ids])
            masks.emit(
                plates.numbers[frame_idx],
                [names[i] for i in ids],
                logits[:, None],
                [visible[i][1] for i in ids],
            )
        progress(done, total)


def exclusive(logits: torch.Tensor, scores: list[float], labels: list[str]) -> torch.Tensor:
    """Instances of one concept do not overlap: where several claim a pixel, the one with
    the highest tracker score keeps it (as SAM 3's post-processing does)."""
    out = logits.clone()
    concepts = [label.rsplit("_", 1)[0] for label in labels]
    order = torch.tensor(scores, dtype=torch.float32, device=logits.device)
    for concept in set(concepts):
        members = [i for i, c in enumerate(concepts) if c == concept]
        if len(members) < 2:
            continue
        claimed = logits[members] > 0
        best = torch.where(claimed, order[members].view(-1, 1, 1), torch.tensor(-1e9)).argmax(0)
        for k, i in enumerate(members):
            out[i] = torch.where(claimed[k] & (best != k), torch.full_like(out[i], -1e4), out[i])
    return out
