"""``--scale``: a known measurement that fixes the solve's scale (metres).

- ``height=1.65``: the camera of the first solved frame is 1.65 m above the ground plane
  (needs a ground plane, see ``orient``);
- ``1001:1096=3.2``: the camera travelled 3.2 m between frames 1001 and 1096 (straight
  line between the two camera centres; both frames must be solved).

Kept free of numpy so that the stage's parameters can validate it at start-up.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

_HEIGHT = re.compile(r"^height=(\d+(?:\.\d*)?|\.\d+)$")
_DISTANCE = re.compile(r"^(\d+):(\d+)=(\d+(?:\.\d*)?|\.\d+)$")


class ScaleSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    metres: float
    height: bool = False
    frames: tuple[int, int] | None = None

    def describe(self) -> str:
        if self.height:
            return f"camera height {self.metres:g} m above the ground plane"
        assert self.frames is not None
        a, b = self.frames
        return f"{self.metres:g} m between the cameras of frames {a} and {b}"


def parse_scale(text: str) -> ScaleSpec:
    """Parse ``height=M`` or ``A:B=M``; ValueError with the accepted forms otherwise."""
    value = text.strip().replace(" ", "")
    if m := _HEIGHT.match(value):
        metres = float(m.group(1))
        spec = ScaleSpec(metres=metres, height=True)
    elif m := _DISTANCE.match(value):
        a, b, metres = int(m.group(1)), int(m.group(2)), float(m.group(3))
        if a == b:
            raise ValueError(f"--scale {text!r} names the same frame twice")
        spec = ScaleSpec(metres=metres, frames=(a, b))
    else:
        raise ValueError(
            f"cannot read --scale {text!r}: give height=METRES (camera height above the "
            "ground) or FRAME:FRAME=METRES (distance the camera travelled)"
        )
    if spec.metres <= 0:
        raise ValueError(f"--scale {text!r} must be a positive distance")
    return spec
