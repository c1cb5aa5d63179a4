"""Join frame-range chunks of a roto pass into one, with ids that stay stable.

Each text-prompt chunk detects on its own, so its instance numbers are its own: chunk 2's
``person_01`` may be chunk 1's ``person_02``. Over the frames two neighbouring chunks
share, every instance of a concept in the later chunk is matched to one in the earlier
chunk by mask IoU (summed over the shared frames), with an optimal one-to-one assignment
(scipy's ``linear_sum_assignment``); a pair below ``MIN_IOU`` is no match, and an
unmatched instance gets the concept's next free number. Masks are binary, so nothing is
blended: the later chunk owns the shared frames. Click and box objects keep their labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput
from ..io.images import decode_png
from .output import OBJECTS, PROMPTS, SCHEMA, SOFT_DIR, WriteFn, mask_file, soft_file

MIN_IOU = 0.3


@dataclass
class Chunk:
    folder: Path  # the chunk's roto pass folder
    document: dict[str, Any]
    numbers: list[int] = field(default_factory=list)  # the plate frames it wrote
    # Local label -> concept (text) or None for click objects.
    concepts: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Chunk:
        try:
            document = json.loads((folder / OBJECTS).read_text())
        except (OSError, ValueError) as exc:
            raise BadInput(f"a roto chunk has no readable {OBJECTS}", where=str(folder)) from exc
        concepts = {o["label"]: o.get("text") for o in document["objects"]}
        return cls(folder, document, list(document["frames"]["numbers"]), concepts)

    def mask(self, label: str, number: int) -> np.ndarray:
        image = decode_png((self.folder / mask_file(label, number)).read_bytes())
        return (image[..., 0] if image.ndim == 3 else image) > 0


def match_instances(
    earlier: Chunk, later: Chunk, overlap: list[int], names: dict[str, str]
) -> dict[str, str | None]:
    """For each of ``later``'s text instances, the global name of the ``earlier`` instance
    it continues (``names``: earlier's local -> global), or None for a new one."""
    from scipy.optimize import linear_sum_assignment

    matched: dict[str, str | None] = {}
    for concept in {c for c in later.concepts.values() if c is not None}:
        before = [label for label, c in earlier.concepts.items() if c == concept]
        after = [label for label, c in later.concepts.items() if c == concept]
        matched.update(dict.fromkeys(after))
        if not before or not overlap:
            continue
        iou = np.zeros((len(after), len(before)))
        for i, b in enumerate(after):
            for j, a in enumerate(before):
                inter = union = 0
                for number in overlap:
                    mb, ma = later.mask(b, number), earlier.mask(a, number)
                    inter += int(np.count_nonzero(mb & ma))
                    union += int(np.count_nonzero(mb | ma))
                iou[i, j] = inter / union if union else 0.0
        rows, cols = linear_sum_assignment(iou, maximize=True)
        for i, j in zip(rows, cols, strict=True):
            if iou[i, j] >= MIN_IOU:
                matched[after[i]] = names[before[j]]
    return matched


def stitch_chunks(
    folders: list[Path], write: WriteFn, progress: Callable[[int, int], None]
) -> None:
    """Write the joined pass (every chunk's owned frames, global names, objects.json)."""
    chunks = sorted((Chunk.read(f) for f in folders), key=lambda c: c.numbers[0])
    if not chunks:
        raise BadInput("there are no roto chunks to stitch")
    counts: dict[str, int] = {}
    records: dict[str, dict[str, Any]] = {}
    mappings: list[dict[str, str]] = []
    previous: Chunk | None = None
    for chunk in chunks:
        overlap = []
        continued: dict[str, str | None] = {}
        if previous is not None:
            overlap = sorted(set(previous.numbers) & set(chunk.numbers))
            continued = match_instances(previous, chunk, overlap, mappings[-1])
        names: dict[str, str] = {}
        for label, concept in chunk.concepts.items():
            if concept is None:
                names[label] = label
            elif continued.get(label):
                names[label] = continued[label]  # type: ignore[assignment]
            else:
                stem = label.rsplit("_", 1)[0]
                counts[stem] = counts.get(stem, 0) + 1
                names[label] = f"{stem}_{counts[stem]:02d}"
            records.setdefault(
                names[label],
                {"label": names[label], "id": len(records) + 1, "text": concept, "presence": {}},
            )
        mappings.append(names)
        previous = chunk
    size = chunks[0].document["size"]
    empty = _empty_png(size)
    owned = [
        # The later chunk owns the shared frames.
        [n for n in chunk.numbers if k + 1 == len(chunks) or n < chunks[k + 1].numbers[0]]
        for k, chunk in enumerate(chunks)
    ]
    total = sum(len(numbers) for numbers in owned)
    done = 0
    for chunk, numbers, names in zip(chunks, owned, mappings, strict=True):
        soft = any((chunk.folder / label / SOFT_DIR).is_dir() for label in chunk.concepts)
        local_of = {name: local for local, name in names.items()}
        presence = {o["label"]: o["presence"] for o in chunk.document["objects"]}
        for number in numbers:
            for name, record in records.items():
                local = local_of.get(name)
                data = (chunk.folder / mask_file(local, number)).read_bytes() if local else empty
                write(mask_file(name, number), data)
                if soft:
                    path = chunk.folder / soft_file(local, number) if local else None
                    write(soft_file(name, number), path.read_bytes() if path else empty)
                if local and str(number) in presence[local]:
                    record["presence"][str(number)] = presence[local][str(number)]
            done += 1
            progress(done, total)
    first = chunks[0].document
    all_numbers = [n for numbers in owned for n in numbers]
    objects = []
    for record in records.values():
        frames = sorted(int(n) for n in record["presence"])
        objects.append(
            {
                **record,
                "frames_present": len(frames),
                "first": frames[0] if frames else None,
                "last": frames[-1] if frames else None,
            }
        )
    document = {
        "schema": SCHEMA,
        "model": first["model"],
        "input": first["input"],
        "frames": {
            "first": all_numbers[0],
            "last": all_numbers[-1],
            "count": len(all_numbers),
            "numbers": all_numbers,
        },
        "size": size,
        "objects": objects,
        "prompts": first["prompts"],
        "chunks": [[c.numbers[0], c.numbers[-1]] for c in chunks],
    }
    write(OBJECTS, json.dumps(document, indent=2).encode())
    write(PROMPTS, (chunks[0].folder / PROMPTS).read_bytes())


def _empty_png(size: list[int]) -> bytes:
    from ..io.images import encode_png

    width, height = size
    return encode_png(np.zeros((height, width), np.uint8))
