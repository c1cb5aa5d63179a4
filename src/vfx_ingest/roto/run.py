"""One roto run: plate frames in, one mask sequence per object out, memory kept flat.

Click, box and mask prompts go through a tracker (``tracker.TrackedClip``): objects whose
first prompt is on the same frame share one session (a session cannot hold an object
before its first prompt). Text prompts go through SAM 3's detector and tracker
(``text.TextClip``), one folder per instance. A frame-range chunk (fan-out) writes only its
frames; a tracker chunk still starts from the prompt frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import BadInput
from .cleanup import Cleanup
from .output import MaskWriter, WriteFn
from .prompts import RotoPrompts

ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class RotoOptions:
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    threshold: float = 0.5
    detection: float = 0.5
    grow: int = 0
    fill_holes: int = 0
    min_area: int = 0
    direction: Literal["forward", "both"] = "both"
    soft: bool = False


def run_roto(
    *,
    plate_dir: Path,
    numbers: list[int],
    frame_range: tuple[int, int] | None,
    objects: RotoPrompts,
    model_id: str,
    model_dir: Path,
    device: str,
    options: RotoOptions,
    write: WriteFn,
    progress: ProgressFn,
) -> dict[str, Any]:
    """Write the roto pass through ``write``; return the stats for the stage record."""
    from ..depth.plates import open_plates
    from .models import load_network

    lo, hi = _span(numbers, frame_range)
    plates = open_plates(plate_dir, numbers, list(range(lo, hi + 1)))
    network = load_network(
        model_id, model_dir, text=objects.is_text(), device=device, precision=options.precision
    )
    owned = numbers[lo : hi + 1]
    writer = MaskWriter(write, owned, plates.width, plates.height)
    masks = _Masks(writer, plates.height, plates.width, options)
    if network.text:
        from .text import run_text

        run_text(network, plates, objects, lo, hi, masks, options, device, progress, model_dir)
    else:
        _run_tracker(network, plates, objects, lo, hi, masks, options, device, progress)
    model = {"id": model_id, **model_license(model_id)}
    writer.finish(
        soft=options.soft,
        header={"model": model, "input": network.input.describe()},
        prompts=objects.canonical(),
    )
    return {
        "model": model_id,
        "license": model.get("license"),
        "objects": len(writer.objects),
        "labels": list(writer.objects),
        "frames": len(owned),
        "input": network.input.describe(),
    }


def model_license(model_id: str) -> dict[str, Any]:
    """Licence, commercial use and gating as the built-in registry states them."""
    from ..models.registry import load_registry

    try:
        entry = load_registry().get(model_id)
    except BadInput:  # a studio-only model: its licence is in the studio's registry
        return {}
    return {"license": entry.license, "commercial": entry.commercial, "gated": entry.gated}


class _Masks:
    """Plate-size masks from low-resolution logits, cleaned, written."""

    def __init__(self, writer: MaskWriter, height: int, width: int, options: RotoOptions) -> None:
        self.writer = writer
        self.height, self.width = height, width
        self.options = options
        self.cleanup = Cleanup(options.grow, options.fill_holes, options.min_area)

    def emit(self, number: int, labels: list[str], logits: Any, scores: list[float]) -> None:
        from .pixels import binary_masks, soft_masks, upsample_logits

        if not labels:
            return
        plate = upsample_logits(logits, self.height, self.width)
        binary = binary_masks(plate, self.options.threshold)
        soft = soft_masks(plate) if self.options.soft else None
        for i, label in enumerate(labels):
            mask = self.cleanup.apply(binary[i])
            self.writer.mask(label, number, mask, scores[i], None if soft is None else soft[i])


def _run_tracker(
    network: Any,
    plates: Any,
    objects: RotoPrompts,
    lo: int,
    hi: int,
    masks: _Masks,
    options: RotoOptions,
    device: str,
    progress: ProgressFn,
) -> None:
    import torch

    from .pixels import network_image
    from .tracker import TrackedClip

    index = {n: i for i, n in enumerate(plates.numbers)}
    ids = {o.label: k + 1 for k, o in enumerate(objects.objects)}
    labels = {v: k for k, v in ids.items()}
    for label, obj_id in ids.items():
        masks.writer.add_object(label, obj_id)
    groups: dict[int, list[str]] = {}
    for o in objects.objects:
        groups.setdefault(index[objects.first_frame(o.label)], []).append(o.label)
    total = (hi - lo + 1) * len(groups)
    done = 0

    def frame(i: int) -> torch.Tensor:
        return network_image(plates.load(i), network.input, device, network.dtype)

    for _, members in sorted(groups.items()):
        session = network.session_class(
            video_height=plates.height,
            video_width=plates.width,
            inference_device=device,
            inference_state_device=device,
            video_storage_device=device,
            dtype=network.dtype,
        )
        inputs = tracker_inputs(
            objects, members, ids, index, (plates.width, plates.height, network.input.size), device
        )
        clip = TrackedClip(network.model, session, frame, plates.count)
        for step in clip.run(inputs, both=options.direction == "both", first=lo, last=hi):
            if not lo <= step.frame_idx <= hi:
                continue  # a chunk tracks from the prompts but writes only its frames
            number = plates.numbers[step.frame_idx]
            scores = torch.sigmoid(step.scores.float()).tolist()
            masks.emit(number, [labels[i] for i in step.obj_ids], step.logits, scores)
            done += 1
            progress(done, total)


def tracker_inputs(
    objects: RotoPrompts,
    members: list[str],
    ids: dict[str, int],
    index: dict[int, int],
    sizes: tuple[int, int, int],
    device: str,
) -> dict[int, list[Any]]:
    """The prompts of ``members`` by plate index, in network coordinates (``sizes``: plate
    width and height, network side); a box goes first as two corner points (labels 2 and
    3), as SAM's prompt encoder expects; a mask goes in at the network's size."""
    from .pixels import mask_input, scale_points
    from .tracker import ObjectInput

    width, height, size = sizes
    inputs: dict[int, list[ObjectInput]] = {}
    for p in objects.prompts:
        if p.label not in members:
            continue
        mask = p.mask_image()
        if mask is not None:
            seed = ObjectInput(ids[p.label], [], [], mask=mask_input(mask, size, device))
            inputs.setdefault(index[p.frame], []).append(seed)
            continue
        points: list[tuple[float, float]] = []
        labels: list[int] = []
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            points += [(x0, y0), (x1, y1)]
            labels += [2, 3]
        points += [*p.points, *p.negative]
        labels += [1] * len(p.points) + [0] * len(p.negative)
        scaled = scale_points(points, width, height, size)
        inputs.setdefault(index[p.frame], []).append(ObjectInput(ids[p.label], scaled, labels))
    return inputs


def _span(numbers: list[int], frame_range: tuple[int, int] | None) -> tuple[int, int]:
    """First and last plate index this run writes."""
    if frame_range is None:
        return 0, len(numbers) - 1
    inside = [i for i, n in enumerate(numbers) if frame_range[0] <= n <= frame_range[1]]
    if not inside:
        raise BadInput(f"frames {frame_range[0]}-{frame_range[1]} select no plate frame")
    return inside[0], inside[-1]
