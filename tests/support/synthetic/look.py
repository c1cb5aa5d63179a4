"""The "camera look": what turns clean scene radiance into something that reads as footage.

Lens vignette, sensor noise (signal-dependent, seeded per frame), a soft highlight
roll-off and the Rec.709 transfer function, quantised to 8-bit RGB.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def rec709_oetf(x: Array) -> Array:
    """BT.709 opto-electronic transfer function (linear scene light -> code value, 0..1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x < 0.018, 4.5 * x, 1.099 * np.power(x, 0.45) - 0.099)


def vignette(width: int, height: int, strength: float = 0.25) -> Array:
    """Radial gain (H, W), 1 at the centre falling to 1 - strength in the corners."""
    x = (np.arange(width) + 0.5 - width / 2) / (width / 2)
    y = (np.arange(height) + 0.5 - height / 2) / (width / 2)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / (1.0 + (height / width) ** 2)
    return (1.0 - strength * r2 * (0.6 + 0.4 * r2)).astype(np.float32)


def apply_look(
    radiance: Array,
    rng: np.random.Generator,
    *,
    exposure: float = 0.8,
    vignette_strength: float = 0.25,
    noise: float = 1.0,
) -> Array:
    """Linear radiance (H, W, 3) -> display-referred uint8 RGB (H, W, 3)."""
    h, w = radiance.shape[:2]
    x = radiance * (exposure * vignette(w, h, vignette_strength))[..., None]
    if noise > 0:
        # Photon (shot) noise grows with signal, read noise does not; a shared luma part makes
        # the grain look like a sensor's rather than independent RGB confetti.
        sigma = noise * np.sqrt(0.00018 * np.clip(x, 0.0, None) + 0.000004)
        grain = rng.standard_normal((h, w, 3), dtype=np.float32) * 0.7
        grain += rng.standard_normal((h, w, 1), dtype=np.float32) * 0.7
        x = x + sigma * grain
    x = np.clip(x, 0.0, None)
    # Soft shoulder (1 stays 1) so bright sky and sunlit plaster roll off instead of clipping.
    shoulder = 0.35
    code = rec709_oetf(x * (1.0 + shoulder) / (1.0 + shoulder * x))
    return np.clip(np.round(code * 255.0), 0, 255).astype(np.uint8)
