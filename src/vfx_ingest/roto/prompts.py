"""Roto prompts: the prompts file, the command-line forms, and checks against the plate.

Every form ends as one ``RotoPrompts``: the objects (a label each, and for SAM 3 a text
concept) and the click, box and mask prompts on plate frames, in plate frame numbers and
plate pixel coordinates (x right, y down, origin at the top-left pixel's corner). The file
(docs/roto.md)::

    {"objects": [{"label": "hero"}, {"label": "car"}],
     "prompts": [{"label": "hero", "frame": 1001, "points": [[640, 360]]},
                 {"label": "car", "frame": 1001, "box": [10, 20, 200, 180]},
                 {"label": "hero", "frame": 1040, "points": [[700, 300]],
                  "negative": [[720, 340]]},
                 {"label": "car", "frame": 1060, "mask": "car.1060.png"}]}

Text prompts: ``{"objects": [{"label": "person", "text": "person"}]}`` (no ``prompts``).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import BadInput

if TYPE_CHECKING:
    import numpy as np

# The RotoParams fields that carry prompts (any of them set: the user gave prompts).
PROMPT_FIELDS = ("prompt", "points", "boxes", "prompts")
DEFAULT_LABEL = "object"
LABEL = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NUMBER = r"-?\d+(?:\.\d+)?"

Point = tuple[float, float]
PNG_DATA = "data:image/png;base64,"


class ObjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(pattern=f"^{LABEL}$")
    text: str | None = Field(None, min_length=1)


class FramePrompt(BaseModel):
    """Prompts for one object on one plate frame: clicks, a box, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    frame: int
    points: list[Point] = []
    negative: list[Point] = []
    box: tuple[float, float, float, float] | None = None
    # A mask to start from (e.g. an earlier roto): a PNG's path, relative to the prompts
    # file, inlined as a data URL when the file is read so the job carries it.
    mask: str | None = None

    @model_validator(mode="after")
    def _something(self) -> FramePrompt:
        clicks = bool(self.points or self.negative or self.box)
        if clicks == (self.mask is not None):
            raise ValueError(
                f"frame {self.frame} of {self.label}: give points and/or a box, or a mask"
            )
        return self

    def mask_image(self) -> np.ndarray | None:
        """The mask prompt as an HxW bool array (None without one)."""
        if self.mask is None:
            return None
        from ..io.images import decode_png

        image = decode_png(base64.b64decode(self.mask.removeprefix(PNG_DATA)))
        return (image[..., 0] if image.ndim == 3 else image) > 0


class RotoPrompts(BaseModel):
    """Every prompt of a roto run, as the prompts file holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objects: list[ObjectSpec] = Field(min_length=1)
    prompts: list[FramePrompt] = []

    @model_validator(mode="after")
    def _consistent(self) -> RotoPrompts:
        labels = [o.label for o in self.objects]
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels repeat: {', '.join(labels)}")
        texts = {o.text is not None for o in self.objects}
        if len(texts) > 1:
            raise ValueError(
                "text and click objects need different models: run them as two roto passes"
            )
        for prompt in self.prompts:
            if prompt.label not in labels:
                raise ValueError(
                    f"prompt on frame {prompt.frame} names unknown label {prompt.label!r} "
                    f"(objects: {', '.join(labels)})"
                )
        if self.is_text():
            if self.prompts:
                raise ValueError("text objects take no click or box prompts")
            return self
        prompted = {p.label for p in self.prompts}
        if missing := [label for label in labels if label not in prompted]:
            raise ValueError(f"object {missing[0]} has no prompt")
        return self

    def is_text(self) -> bool:
        return self.objects[0].text is not None

    def texts(self) -> list[str]:
        return [o.text for o in self.objects if o.text is not None]

    def first_frame(self, label: str) -> int:
        return min(p.frame for p in self.prompts if p.label == label)

    def frames(self) -> list[int]:
        """Plate frame numbers that carry a prompt, in order."""
        return sorted({p.frame for p in self.prompts})

    def canonical(self) -> str:
        """The JSON that params carry and cache keys hash: one spelling per content."""
        return json.dumps(self.model_dump(mode="json", exclude_defaults=True), sort_keys=True)

    def check_plate(self, numbers: list[int], width: int, height: int) -> None:
        """BadInput for a prompt on a frame the plate lacks or outside the image."""
        have = set(numbers)
        span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
        for p in self.prompts:
            where = f"{p.label} on frame {p.frame}"
            if p.frame not in have:
                raise BadInput(
                    f"roto prompt for {where}: the plate has no frame {p.frame} (frames {span})",
                    fix="Use a plate frame number (see shot.json or plate/)",
                )
            for x, y in [*p.points, *p.negative]:
                if not (0 <= x < width and 0 <= y < height):
                    raise BadInput(
                        f"roto point {x:g},{y:g} for {where} is outside the {width}x{height} plate",
                        fix="Give plate pixel coordinates (x right, y down, from 0)",
                    )
            mask = p.mask_image()
            if mask is not None and mask.shape != (height, width):
                raise BadInput(
                    f"roto mask for {where} is {mask.shape[1]}x{mask.shape[0]}, the plate "
                    f"{width}x{height}",
                    fix="Give a mask at the plate's size",
                )
            if p.box is not None:
                x0, y0, x1, y1 = p.box
                if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                    raise BadInput(
                        f"roto box {x0:g},{y0:g},{x1:g},{y1:g} for {where} is not inside "
                        f"the {width}x{height} plate",
                        fix="Give x0,y0,x1,y1 with x0 < x1 and y0 < y1, in plate pixels",
                    )


def prompts_from_options(
    *,
    prompt: str | None = None,
    points: str | None = None,
    boxes: str | None = None,
    label: str | None = None,
    prompts: str | None = None,
) -> RotoPrompts:
    """The prompts of the command-line forms (``prompts``: the file's JSON or its path)."""
    forms = [
        name
        for name, value in (("--prompt", prompt), ("--prompts", prompts), ("--points", points))
        if value is not None
    ]
    if boxes is not None and "--points" not in forms:
        forms.append("--boxes")
    if len(forms) > 1:
        raise BadInput(
            f"roto: {' and '.join(forms)} were both given",
            fix="Give text (--prompt), clicks/boxes (--points, --boxes, --label) or a "
            "prompts file (--prompts), one of them",
        )
    if label is not None and points is None and boxes is None:
        raise BadInput("roto: --label names the object of --points/--boxes; give those too")
    if prompts is not None:
        if prompts.lstrip().startswith("{"):
            return _validated(prompts, "--prompts")
        return _validated(load_prompts_file(Path(prompts)), prompts)
    if prompt is not None:
        return _text_objects(prompt)
    if points is None and boxes is None:
        raise BadInput("roto: no prompt given")
    name = label or DEFAULT_LABEL
    frames: dict[int, dict] = {}
    for frame, values in _frame_items(points, "--points", (2, 3)):
        entry = frames.setdefault(frame, {"label": name, "frame": frame})
        background = len(values) == 3 and values[2] == 0
        entry.setdefault("negative" if background else "points", []).append(values[:2])
    for frame, values in _frame_items(boxes, "--boxes", (4,)):
        entry = frames.setdefault(frame, {"label": name, "frame": frame})
        if "box" in entry:
            raise BadInput(f"roto: two boxes on frame {frame}", fix="One box per frame")
        entry["box"] = values
    document = {"objects": [{"label": name}], "prompts": [frames[f] for f in sorted(frames)]}
    return _validated(json.dumps(document), "--label" if label else "--points/--boxes")


def load_prompts_file(path: Path) -> str:
    """The canonical JSON of a prompts file; BadInput naming the file when it is wrong."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"cannot read the roto prompts file ({exc.strerror})",
            where=str(path),
            fix="Check the path given to --prompts",
        ) from None
    prompts = _validated(text, str(path))
    inlined = [
        p.model_copy(update={"mask": _inline_mask(path.expanduser().parent / p.mask, path)})
        if p.mask is not None and not p.mask.startswith(PNG_DATA)
        else p
        for p in prompts.prompts
    ]
    return prompts.model_copy(update={"prompts": inlined}).canonical()


def _inline_mask(mask: Path, prompts_file: Path) -> str:
    from ..io.images import decode_png

    try:
        data = mask.read_bytes()
        decode_png(data)
    except (OSError, RuntimeError, ValueError) as exc:
        raise BadInput(
            f"cannot read the roto mask {mask.name} ({exc})",
            where=str(prompts_file),
            fix="Give a PNG path relative to the prompts file",
        ) from None
    return PNG_DATA + base64.b64encode(data).decode()


def _validated(text: str, where: str) -> RotoPrompts:
    try:
        return RotoPrompts.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise BadInput(
            f"bad roto prompts: {f'{loc}: ' if loc else ''}{message}",
            where=where,
            fix="See docs/roto.md for the prompts format",
        ) from None


def _text_objects(prompt: str) -> RotoPrompts:
    concepts = [c.strip() for c in prompt.split(",") if c.strip()]
    objects = []
    for concept in dict.fromkeys(concepts):
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", concept).strip("_.-") or DEFAULT_LABEL
        objects.append({"label": label[:64], "text": concept})
    return _validated(json.dumps({"objects": objects}), "--prompt")


def _frame_items(
    value: str | None, option: str, sizes: tuple[int, ...]
) -> list[tuple[int, list[float]]]:
    """``FRAME:a,b[;FRAME:c,d...]`` as (frame, numbers); BadInput naming the bad item."""
    if value is None:
        return []
    items = []
    shape = {2: "FRAME:x,y", 3: "FRAME:x,y[,0]", 4: "FRAME:x0,y0,x1,y1"}[max(sizes)]
    for item in filter(None, (part.strip() for part in value.split(";"))):
        frame, _, rest = item.partition(":")
        numbers = [n.strip() for n in rest.split(",")]
        if (
            not frame.strip().isdigit()
            or len(numbers) not in sizes
            or not all(re.fullmatch(_NUMBER, n) for n in numbers)
        ):
            raise BadInput(
                f"roto {option}: cannot read {item!r}", fix=f"Write {shape}, items joined by ;"
            )
        items.append((int(frame), [float(n) for n in numbers]))
    return items
