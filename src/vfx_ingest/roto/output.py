"""The roto pass on disk: one mask sequence per object, objects.json and prompts.json.

``<label>/roto.1001.png``: 8-bit, 0 or 255, plate size, every plate frame of the run (an
empty mask where the object is absent); ``<label>/soft/roto_soft.1001.png``: the 8-bit
probability before the threshold and clean-up (optional); ``objects.json``: per object its
label, id, text concept, and per-frame presence scores; ``prompts.json``: the prompts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..frames import frame_path
from ..io.images import encode_png

SCHEMA = "vfx-ingest.roto/1"
OBJECTS = "objects.json"
PROMPTS = "prompts.json"
MASK = "roto"
SOFT_DIR = "soft"
SOFT = "roto_soft"

# Writes one file of the roto pass (a path relative to the pass folder).
WriteFn = Callable[[str, bytes], None]


def mask_file(label: str, number: int) -> str:
    return f"{label}/{frame_path(MASK, number, 'png')}"


def soft_file(label: str, number: int) -> str:
    return f"{label}/{SOFT_DIR}/{frame_path(SOFT, number, 'png')}"


@dataclass
class ObjectRecord:
    label: str
    id: int
    text: str | None = None
    # Frame number -> presence score (0..1) on the frames where the mask is not empty.
    presence: dict[int, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "id": self.id,
            "text": self.text,
            "frames_present": len(self.presence),
            "first": min(self.presence, default=None),
            "last": max(self.presence, default=None),
            "presence": {str(n): round(s, 4) for n, s in sorted(self.presence.items())},
        }


class MaskWriter:
    """Writes masks as they come, then fills the frames an object never got, then the
    two JSON files; ``numbers`` are the frames this run owns."""

    def __init__(self, write: WriteFn, numbers: list[int], width: int, height: int) -> None:
        self.write = write
        self.numbers = numbers
        self.width, self.height = width, height
        self.objects: dict[str, ObjectRecord] = {}
        self._written: dict[str, set[int]] = {}
        self._empty: bytes | None = None

    def add_object(self, label: str, obj_id: int, text: str | None = None) -> None:
        if label not in self.objects:
            self.objects[label] = ObjectRecord(label, obj_id, text)
            self._written[label] = set()

    def mask(
        self, label: str, number: int, mask: np.ndarray, score: float, soft: np.ndarray | None
    ) -> None:
        present = bool(mask.any())
        self.write(mask_file(label, number), encode_png(mask.astype(np.uint8) * 255))
        if soft is not None:
            self.write(soft_file(label, number), encode_png(soft))
        self._written[label].add(number)
        if present:
            self.objects[label].presence[number] = float(score)
        else:
            self.objects[label].presence.pop(number, None)

    def finish(self, *, soft: bool, header: dict[str, Any], prompts: str) -> None:
        for label in self.objects:
            for number in self.numbers:
                if number not in self._written[label]:
                    self.write(mask_file(label, number), self.empty())
                    if soft:
                        self.write(soft_file(label, number), self.empty())
        document = {
            "schema": SCHEMA,
            **header,
            "frames": {
                "first": self.numbers[0],
                "last": self.numbers[-1],
                "count": len(self.numbers),
                "numbers": self.numbers,
            },
            "size": [self.width, self.height],
            "objects": [o.as_json() for o in self.objects.values()],
            "prompts": json.loads(prompts),
        }
        self.write(OBJECTS, json.dumps(document, indent=2).encode())
        self.write(PROMPTS, (json.dumps(json.loads(prompts), indent=2) + "\n").encode())

    def empty(self) -> bytes:
        if self._empty is None:
            self._empty = encode_png(np.zeros((self.height, self.width), np.uint8))
        return self._empty
