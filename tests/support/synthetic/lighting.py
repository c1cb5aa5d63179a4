"""Light baking: the scene is static and lit by a distant sun plus sky, and Lambert shading is
view-independent, so every texel's radiance is computed once per scene ("lightmap") and the
per-frame renderer only has to look textures up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Box, Quad
from .materials import Surface
from .noise import Array, box_blur, fbm


@dataclass(frozen=True)
class Light:
    sun_dir: Array  # (3,) unit vector pointing towards the sun
    sun: Array  # (3,) linear irradiance of the sun on a perpendicular surface
    sky: Array  # (3,) ambient from the sky hemisphere (on an upward-facing surface)
    bounce: Array  # (3,) ambient bounced off the ground (on a downward-facing surface)

    @classmethod
    def default(cls, azimuth_deg: float = 215.0, elevation_deg: float = 52.0) -> Light:
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        d = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
        return cls(
            sun_dir=d,
            sun=np.array([3.0, 2.8, 2.45], np.float32),
            sky=np.array([0.62, 0.72, 0.9], np.float32),
            bounce=np.array([0.34, 0.3, 0.24], np.float32),
        )


def sky_radiance(dirs: Array, light: Light) -> Array:
    """Sky colour for world ray directions (N, 3): horizon haze to zenith blue, soft clouds."""
    up = np.clip(dirs[:, 1], 0.0, 1.0)
    horizon = np.array([0.95, 1.0, 1.05], np.float32)
    zenith = np.array([0.3, 0.45, 0.85], np.float32)
    t = (1.0 - up) ** 3
    col = zenith + (horizon - zenith) * t[:, None]
    # Clouds projected on a plane high above, low frequency so they carry few features.
    with np.errstate(divide="ignore", invalid="ignore"):
        px, pz = dirs[:, 0] / np.maximum(up, 0.05), dirs[:, 2] / np.maximum(up, 0.05)
    clouds = 0.5 + 0.5 * np.sin(1.3 * px + 0.7 * np.sin(2.1 * pz)) * np.sin(0.9 * pz + 1.1)
    col = col + (np.clip(clouds - 0.45, 0.0, 1.0) * 0.6 * (1.0 - t))[:, None]
    sun_glow = np.clip(dirs @ light.sun_dir, 0.0, 1.0) ** 32
    return (col + sun_glow[:, None] * 0.6).astype(np.float32)


def _bump_normals(quad: Quad, height: Array, texel_a: float, texel_b: float) -> Array:
    # n' ~ n - dh/da * u_hat - dh/db * v_hat for a relief h along the face normal.
    dh_db, dh_da = np.gradient(height, texel_b, texel_a)
    dh_da, dh_db = np.clip(dh_da, -3.0, 3.0), np.clip(dh_db, -3.0, 3.0)
    n = quad.normal[None, None, :] - dh_da[..., None] * quad.u_hat - dh_db[..., None] * quad.v_hat
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def _upsample(img: Array, shape: tuple[int, int]) -> Array:
    # Bilinear resize (texel-centre aligned) of a 2-D map to `shape`.
    def axis(n_in: int, n_out: int) -> tuple[Array, Array, Array]:
        x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0).astype(np.float32)

    y0, y1, wy = axis(img.shape[0], shape[0])
    x0, x1, wx = axis(img.shape[1], shape[1])
    rows = img[y0] * (1 - wy)[:, None] + img[y1] * wy[:, None]
    return rows[:, x0] * (1 - wx) + rows[:, x1] * wx


def _face_window(
    quad: Quad, points: Array, xs: Array, ys: Array, margin: float
) -> tuple[slice, slice]:
    # Index slices of the texel grid (ys x xs) covering world `points` projected onto the face.
    rel = points - quad.origin
    a, b = rel @ quad.u_hat, rel @ quad.v_hat
    lo_x, hi_x = np.searchsorted(xs, [a.min() - margin, a.max() + margin])
    lo_y, hi_y = np.searchsorted(ys, [b.min() - margin, b.max() + margin])
    return slice(int(lo_y), int(hi_y)), slice(int(lo_x), int(hi_x))


def sun_visibility(quad: Quad, occluders: list[Box], light: Light, texel_m: float) -> Array:
    """Soft shadow mask (1 = lit) on a coarse grid over the quad, shape (rows, cols)."""
    rows = max(2, round(quad.height / texel_m))
    cols = max(2, round(quad.width / texel_m))
    a = (np.arange(cols) + 0.5) * quad.width / cols
    b = (np.arange(rows) + 0.5) * quad.height / rows
    pts = quad.point(a[None, :], b[:, None]) + 0.01 * quad.normal
    lit = np.ones((rows, cols), bool)
    n_dot_l = float(quad.normal @ light.sun_dir)
    for box in occluders:
        # Only texels inside the box's shadow footprint on this plane can be shaded by it:
        # slide each corner down-sun onto the plane (corners behind the plane stay put).
        corners = box.corners
        t = np.maximum((corners - quad.origin) @ quad.normal / n_dot_l, 0.0)
        sy, sx = _face_window(quad, corners - t[:, None] * light.sun_dir, a, b, 2 * texel_m)
        region = lit[sy, sx].ravel()
        todo = np.flatnonzero(region)
        if todo.size == 0:
            continue
        region[todo[box.ray_hits(pts[sy, sx].reshape(-1, 3)[todo], light.sun_dir)]] = False
        lit[sy, sx] = region.reshape(lit[sy, sx].shape)
    return box_blur(lit.astype(np.float32), 1)


def contact_occlusion(
    quad: Quad, xs: Array, ys: Array, supports: list[Box], floor_y: float
) -> Array:
    """Fake ambient occlusion: darkening where a face meets the surface it stands on (vertical
    faces) or around the footprints of boxes standing on it (upward faces)."""
    n = quad.normal
    if abs(n[1]) < 0.5:  # vertical: darken towards its foot
        world_y = quad.origin[1] - ys
        ao = 1.0 - 0.45 * np.exp(-np.maximum(world_y - floor_y, 0.0) / 0.18)
        return np.broadcast_to(ao[:, None], (ys.size, xs.size)).astype(np.float32)
    ao = np.ones((ys.size, xs.size), np.float32)
    if n[1] < 0:
        return ao
    face_y = quad.origin[1]
    for box in supports:
        if abs(box.base_y - face_y) > 0.02:
            continue
        sy, sx = _face_window(quad, box.corners, xs, ys, 1.0)
        if sy.start >= sy.stop or sx.start >= sx.stop:
            continue
        pts = quad.point(xs[None, sx], ys[sy, None])[..., [0, 2]]
        ao[sy, sx] *= 1.0 - 0.5 * np.exp(-box.footprint_distance(pts) / 0.22)
    return ao


def cavity(height: Array, texel_m: float) -> Array:
    """Darken recesses (mortar, grout, gaps) relative to their neighbourhood."""
    r = max(1, round(0.02 / texel_m))
    depth = box_blur(height, r) - height
    return np.clip(1.0 - depth / 0.012, 0.55, 1.0).astype(np.float32)


def bake(
    quad: Quad,
    surface: Surface,
    xs: Array,
    ys: Array,
    light: Light,
    *,
    occluders: list[Box],
    floor_y: float,
    shadow_texel_m: float,
    rng: np.random.Generator,
) -> Array:
    """Radiance texture (rows, cols, 3) for one quad: sun (shadowed) + sky + bounce, all Lambert."""
    texel_a, texel_b = quad.width / xs.size, quad.height / ys.size
    normals = _bump_normals(quad, surface.height, texel_a, texel_b)
    ao = contact_occlusion(quad, xs, ys, occluders, floor_y) * cavity(surface.height, texel_a)
    sky_w = 0.5 + 0.5 * normals[..., 1]
    ambient = (light.sky * sky_w[..., None] + light.bounce * (1.0 - sky_w)[..., None]) * ao[
        ..., None
    ]
    radiance = ambient
    if quad.normal @ light.sun_dir > 0.0:
        vis = sun_visibility(quad, occluders, light, shadow_texel_m)
        vis = _upsample(vis, (ys.size, xs.size))
        # Break up the perfectly straight shadow edges a little.
        vis = np.clip(vis + 0.04 * fbm(xs, ys, 0.1, rng, octaves=2), 0.0, 1.0)
        lambert = np.clip(normals @ light.sun_dir.astype(np.float32), 0.0, None)
        radiance = radiance + light.sun * (lambert * vis * (0.6 + 0.4 * ao))[..., None]
    return (surface.albedo * radiance).astype(np.float32)
