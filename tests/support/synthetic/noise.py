"""Procedural noise on metric texel grids.

Every function takes the texel-centre coordinates of a texture in metres (one 1-D array per
axis), so a material looks the same whatever texel size it is baked at: only octaves finer
than the texel grid are dropped (they would alias).
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def texel_axis(length_m: float, texel_m: float) -> Array:
    """Texel-centre coordinates (metres) along one axis of a face `length_m` long."""
    n = max(2, round(length_m / texel_m))
    return ((np.arange(n, dtype=np.float32) + 0.5) * (length_m / n)).astype(np.float32)


def _smooth_lerp_weights(coord: Array) -> tuple[Array, Array]:
    # Grid index and quintic fade weight: the quintic hides the lattice better than smoothstep.
    i0 = np.floor(coord).astype(np.int64)
    f = (coord - i0).astype(np.float32)
    w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)
    return i0 - i0.min(), w


def value_noise(xs: Array, ys: Array, cell_m: float, rng: np.random.Generator) -> Array:
    """Smooth value noise in [-1, 1] on the grid ys x xs (metres), lattice spacing `cell_m`.

    Separable: interpolate the random lattice along x for every lattice row, then along y, which
    costs two full-size passes instead of four gathers per texel.
    """
    off = rng.uniform(0.0, 1000.0, size=2)  # random lattice phase so octaves do not line up
    ix, wx = _smooth_lerp_weights(xs / cell_m + off[0])
    iy, wy = _smooth_lerp_weights(ys / cell_m + off[1])
    lattice = rng.uniform(-1.0, 1.0, size=(int(iy.max()) + 2, int(ix.max()) + 2))
    lattice = lattice.astype(np.float32)
    rows = lattice[:, ix] * (1.0 - wx) + lattice[:, ix + 1] * wx
    return rows[iy] * (1.0 - wy)[:, None] + rows[iy + 1] * wy[:, None]


def fbm(
    xs: Array,
    ys: Array,
    cell_m: float,
    rng: np.random.Generator,
    *,
    octaves: int = 5,
    gain: float = 0.5,
    min_cell_m: float = 0.0,
    stretch: tuple[float, float] = (1.0, 1.0),
) -> Array:
    """Fractal sum of value-noise octaves, normalised to roughly [-1, 1].

    `stretch` scales the lattice per axis (sx, sy) for streaky patterns such as water runs or
    wood. Octaves whose lattice would be finer than `min_cell_m` are skipped (anti-aliasing).
    """
    out = np.zeros((ys.size, xs.size), np.float32)
    amp, total, cell = 1.0, 0.0, cell_m
    for _ in range(octaves):
        if cell * min(stretch) < min_cell_m:
            break
        out += amp * value_noise(xs / stretch[0], ys / stretch[1], cell, rng)
        total += amp
        amp *= gain
        cell *= 0.5
    return out / max(total, 1e-6)


def box_blur(img: Array, radius: int) -> Array:
    """Separable box blur (edge-clamped) of a 2-D or 3-D image with a (2r+1) window."""
    if radius <= 0:
        return img
    out = img.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = ((hi - lo) / (2 * radius + 1)).astype(np.float32)
    return out


def smoothstep(e0: float, e1: float, x: Array) -> Array:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
