"""All quad textures, with mip levels, packed into one flat texel array.

One array means the renderer samples every visible pixel with a handful of vectorised gathers,
whatever quad it hit, instead of looping over quads. Mip levels stop distant, grazing surfaces
from shimmering frame to frame (which would create false, flickering features).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

Array = np.ndarray


def _halve(img: Array) -> Array:
    # 2x2 box filter; odd sizes are padded by repeating the last row/column.
    h, w = img.shape[:2]
    img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return 0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])


@dataclass(frozen=True)
class TextureAtlas:
    texels: Array  # (T, 3) float32 linear radiance
    base: Array  # (Q, L) int64: offset of level l of quad q in `texels`
    cols: Array  # (Q, L) int64
    rows: Array  # (Q, L) int64
    texel_m: Array  # (Q,) float32: level-0 texel size (metres) of each quad

    @property
    def levels(self) -> int:
        return self.base.shape[1]

    @cached_property
    def _flat_tables(self) -> tuple[Array, Array, Array, Array, Array]:
        # (quad, level) tables flattened to 1-D, in the dtypes the sampler computes in:
        # 1-D takes on int32/float32 are much cheaper than 2-D fancy indexing on int64.
        cols, rows = self.cols.ravel(), self.rows.ravel()
        return (
            self.base.ravel().astype(np.int64),
            cols.astype(np.int32),
            cols.astype(np.float32),
            rows.astype(np.float32),
            (cols - 1).astype(np.float32),
        )

    @classmethod
    def pack(cls, textures: list[Array], texel_m: list[float], levels: int = 7) -> TextureAtlas:
        chunks, base, cols, rows = [], [], [], []
        offset = 0
        for tex in textures:
            b, c, r = [], [], []
            img = tex.astype(np.float32)
            for _ in range(levels):
                b.append(offset)
                r.append(img.shape[0])
                c.append(img.shape[1])
                chunks.append(img.reshape(-1, 3))
                offset += img.shape[0] * img.shape[1]
                img = _halve(img) if min(img.shape[:2]) > 1 else img
            base.append(b)
            cols.append(c)
            rows.append(r)
        return cls(
            texels=np.concatenate(chunks),
            base=np.array(base, np.int64),
            cols=np.array(cols, np.int64),
            rows=np.array(rows, np.int64),
            texel_m=np.array(texel_m, np.float32),
        )

    def _bilinear(self, ids: Array, level: Array, a: Array, b: Array) -> Array:
        # a, b: face coordinates as fractions of the quad's width/height, in [0, 1].
        base_t, cols_i, cols_f, rows_f, last_col = self._flat_tables
        k = ids * self.levels + level
        cols, rows = cols_f.take(k), rows_f.take(k)
        # Clamp-to-edge: clamping the coordinate first leaves one clamp on the +1 neighbours.
        x = np.clip(a * cols - 0.5, 0.0, cols - 1.0)
        y = np.clip(b * rows - 0.5, 0.0, rows - 1.0)
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        step_x = (x0 < last_col.take(k)).astype(np.int64)
        step_y = np.where(y0 < rows - 1.0, cols_i.take(k), 0)
        i00 = base_t.take(k) + y0.astype(np.int64) * cols_i.take(k) + x0.astype(np.int64)
        i10 = i00 + step_y
        t = self.texels
        # np.take is several times faster than fancy indexing for row gathers.
        top = np.take(t, i00, axis=0)
        top += (np.take(t, i00 + step_x, axis=0) - top) * fx
        bottom = np.take(t, i10, axis=0)
        bottom += (np.take(t, i10 + step_x, axis=0) - bottom) * fx
        top += (bottom - top) * fy
        return top

    def sample(self, ids: Array, a: Array, b: Array, footprint_m: Array) -> Array:
        """Trilinear lookup: quad `ids`, face fractions `a`, `b`, pixel footprint in metres."""
        lod = np.log2(np.maximum(footprint_m / self.texel_m.take(ids), 1.0))
        lod = np.minimum(lod, np.float32(self.levels - 1))
        l0 = lod.astype(np.int64)  # lod >= 0, so truncation is floor
        frac = lod - l0
        out = self._bilinear(ids, l0, a, b)
        # Most pixels are magnified (level 0 only); blend in the next level only where needed.
        need = np.flatnonzero(frac > 1e-3)
        if need.size:
            l1 = np.minimum(l0[need] + 1, self.levels - 1)
            nxt = self._bilinear(ids[need], l1, a[need], b[need])
            f = frac[need, None]
            out[need] += (nxt - out[need]) * f
        return out
