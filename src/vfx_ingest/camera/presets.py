"""Quality presets: how many features, how dense the keyframes, how much matching.

The quality table in docs/camera.md is checked against :data:`PRESETS` by a test.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Quality = Literal["fast", "balanced", "best"]


class Preset(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_features: int = Field(description="SIFT features per frame, at most.")
    first_octave: int = Field(description="SIFT's first octave; -1 also looks at 2x scale.")
    parallax: float = Field(description="New keyframe when features moved this much (of width).")
    min_tracked: float = Field(description="...or when fewer of its features are still tracked.")
    max_gap: int = Field(description="...or after this many frames.")
    overlap: int = Field(description="Each keyframe is matched with this many following ones.")
    loops: int = Field(description="Loop-closure candidates matched per keyframe.")
    anchors: int = Field(description="Keyframes each other frame is matched with (nearest).")
    ba_iterations: int = Field(description="Iterations of the final (robust) bundle adjustment.")


PRESETS: dict[str, Preset] = {
    "fast": Preset(
        max_features=2048,
        first_octave=0,
        parallax=0.03,
        min_tracked=0.3,
        max_gap=20,
        overlap=3,
        loops=1,
        anchors=0,
        ba_iterations=6,
    ),
    "balanced": Preset(
        max_features=4096,
        first_octave=-1,
        parallax=0.02,
        min_tracked=0.4,
        max_gap=15,
        overlap=5,
        loops=2,
        anchors=0,
        ba_iterations=10,
    ),
    "best": Preset(
        max_features=8192,
        first_octave=-1,
        parallax=0.012,
        min_tracked=0.5,
        max_gap=10,
        overlap=8,
        loops=3,
        anchors=2,
        ba_iterations=25,
    ),
}


def describe() -> str:
    """The presets in a line, for ``--quality``'s help."""
    (first, a), *rest = PRESETS.items()
    parts = [f"{first} ({a.max_features} features a frame, keyframes at most {a.max_gap} apart)"]
    parts += [f"{name} ({p.max_features}, {p.max_gap})" for name, p in rest]
    return f"Speed against accuracy: {', '.join(parts)}; each step also matches more frames"
