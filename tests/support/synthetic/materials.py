"""Procedural surface materials: albedo plus a small relief map, baked on metric texel grids.

Every generator takes `xs` (metres along the face's u axis, to the right) and `ys` (metres along
its v axis, downwards as seen from the front) and returns a `Surface`. The goal is a look a
feature tracker treats like a real place: structure at several scales (bricks and planks,
per-element colour, grain, speckle, stains), never a repeating test pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .noise import Array, fbm, smoothstep, value_noise


@dataclass(frozen=True)
class Surface:
    albedo: Array  # (H, W, 3) float32, linear reflectance in [0, 1]
    height: Array  # (H, W) float32, relief in metres (only used for bump shading)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in face coordinates (metres), top-left origin."""

    x: float
    y: float
    w: float
    h: float


def srgb(r: float, g: float, b: float) -> Array:
    """Linear reflectance from an 8-bit sRGB-ish triple (so palettes can be picked by eye)."""
    return (np.array([r, g, b], np.float32) / 255.0) ** 2.2


def _table(rng: np.random.Generator, idx: Array, cols: int = 4) -> Array:
    # Random values per integer cell id: a lookup table indexed by the (shifted) ids.
    idx = idx - idx.min()
    return rng.random((int(idx.max()) + 1, cols)).astype(np.float32)[idx]


def _mix(a: Array, b: Array, t: Array) -> Array:
    return a + (b - a) * t[..., None]


def _grid(xs: Array, ys: Array) -> tuple[Array, Array]:
    return np.broadcast_to(xs[None, :], (ys.size, xs.size)), np.broadcast_to(
        ys[:, None], (ys.size, xs.size)
    )


def _edge_distance(lx: Array, ly: Array, w: Array | float, h: Array | float) -> Array:
    # Distance to the nearest edge of a w x h cell, measured inside it.
    return np.minimum(np.minimum(lx, w - lx), np.minimum(ly, h - ly))


def _cracks(xs: Array, ys: Array, rng: np.random.Generator, cell: float, width: float) -> Array:
    # Thin meandering lines where a smooth noise field crosses zero (1 on a crack, 0 elsewhere).
    n = value_noise(xs, ys, cell, rng) + 0.35 * value_noise(xs, ys, cell * 0.3, rng)
    gate = smoothstep(0.15, 0.45, fbm(xs, ys, cell * 2.0, rng, octaves=2))
    return (1.0 - smoothstep(0.0, width, np.abs(n))) * gate


# --------------------------------------------------------------------------------------------
# Masonry


BRICK_PALETTE = [srgb(150, 68, 48), srgb(124, 54, 40), srgb(168, 92, 62), srgb(110, 62, 50)]


def bricks(
    xs: Array,
    ys: Array,
    rng: np.random.Generator,
    texel_m: float,
    *,
    brick: tuple[float, float] = (0.215, 0.065),
    mortar: float = 0.011,
    palette: list[Array] | None = None,
) -> Surface:
    """Running-bond brickwork with per-brick colour, chipped edges and recessed mortar."""
    palette = palette or BRICK_PALETTE
    bw, bh = brick
    pw, ph = bw + mortar, bh + mortar
    row = np.floor(ys / ph).astype(np.int64)
    shift = (row % 2) * 0.5 * pw + rng.uniform(-0.02, 0.02, int(row.max()) + 1)[row]
    xx = xs[None, :] + shift[:, None]
    col = np.floor(xx / pw).astype(np.int64)
    lx = xx - col * pw
    ly = np.broadcast_to((ys - row * ph)[:, None], xx.shape)
    edge = _edge_distance(lx, ly, bw, bh)
    edge = edge + 0.004 * fbm(xs, ys, 0.03, rng, octaves=3, min_cell_m=texel_m)
    in_brick = smoothstep(-0.5 * texel_m, 0.5 * texel_m, edge)

    col = col - col.min()
    rnd = _table(rng, row[:, None] * (int(col.max()) + 1) + col)
    pal = np.stack(palette)
    colour = pal[(rnd[..., 0] * len(palette)).astype(np.int64) % len(palette)]
    colour = colour * (0.7 + 0.55 * rnd[..., 1:2])
    burnt = (rnd[..., 2] > 0.92)[..., None]
    colour = np.where(burnt, colour * 0.45, colour)
    grain = fbm(xs, ys, 0.04, rng, octaves=4, min_cell_m=texel_m)
    speck = value_noise(xs, ys, max(0.004, 1.5 * texel_m), rng)
    colour = colour * (1.0 + 0.22 * grain + 0.12 * speck)[..., None]
    mortar_col = srgb(168, 160, 146) * (1.0 + 0.25 * fbm(xs, ys, 0.05, rng, octaves=3))[..., None]
    albedo = _mix(mortar_col, colour, in_brick)
    height = np.clip(edge, -0.008, 0.003) + 0.0008 * grain
    return Surface(albedo.astype(np.float32), height.astype(np.float32))


def plaster(
    xs: Array, ys: Array, rng: np.random.Generator, texel_m: float, *, paint: Array
) -> Surface:
    """Painted render over brick: blotchy paint, cracks and patches where bricks show through."""
    base = bricks(xs, ys, rng, texel_m)
    mottle = fbm(xs, ys, 0.8, rng, octaves=6, min_cell_m=texel_m)
    fine = fbm(xs, ys, 0.05, rng, octaves=3, min_cell_m=texel_m)
    paint_col = paint * (1.0 + 0.18 * mottle + 0.08 * fine)[..., None]
    loss = fbm(xs, ys, 1.2, rng, octaves=5, min_cell_m=texel_m)
    cover = smoothstep(0.3, 0.26, loss)  # 1 = plaster present, 0 = fallen off
    crack = _cracks(xs, ys, rng, 0.7, 0.035)
    rim = smoothstep(0.2, 0.26, loss) * cover  # dirty broken edge around each bare patch
    albedo = _mix(paint_col, base.albedo, 1.0 - cover)
    albedo = albedo * ((1.0 - 0.4 * rim) * (1.0 - 0.55 * crack))[..., None]
    height = np.where(cover > 0.5, 0.012 + 0.001 * fine, base.height) - 0.002 * crack
    return Surface(albedo.astype(np.float32), height.astype(np.float32))


def concrete(
    xs: Array,
    ys: Array,
    rng: np.random.Generator,
    texel_m: float,
    *,
    tint: Array | None = None,
    panel: tuple[float, float] = (1.2, 0.6),
) -> Surface:
    """Cast concrete: mottling, pores, formwork seams and tie holes."""
    tint = srgb(150, 148, 142) if tint is None else tint
    gx, gy = _grid(xs, ys)
    mottle = fbm(xs, ys, 0.6, rng, octaves=7, min_cell_m=texel_m)
    pores = value_noise(xs, ys, max(0.006, 1.2 * texel_m), rng)
    pore = smoothstep(0.55, 0.8, pores)
    pw, ph = panel
    lx, ly = np.mod(gx, pw), np.mod(gy, ph)
    seam = 1.0 - smoothstep(0.0, max(0.006, texel_m), _edge_distance(lx, ly, pw, ph))
    hx, hy = np.mod(gx - pw * 0.25, pw * 0.5), np.mod(gy - ph * 0.5, ph)
    tie = 1.0 - smoothstep(0.012, 0.018, np.hypot(hx - pw * 0.25, hy - ph * 0.5))
    stain = fbm(xs, ys, 0.3, rng, octaves=4, stretch=(0.3, 1.0), min_cell_m=texel_m)
    shade = 1.0 + 0.25 * mottle + 0.1 * stain - 0.35 * pore - 0.25 * seam - 0.5 * tie
    albedo = tint[None, None, :] * np.clip(shade, 0.2, None)[..., None]
    height = -0.003 * pore - 0.004 * seam - 0.015 * tie + 0.001 * mottle
    return Surface(albedo.astype(np.float32), height.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Ground


STONE_PALETTE = [
    srgb(160, 152, 138),
    srgb(146, 140, 130),
    srgb(170, 158, 136),
    srgb(136, 132, 126),
    srgb(156, 140, 120),
]


def paving(xs: Array, ys: Array, rng: np.random.Generator, texel_m: float) -> Surface:
    """Flagstones in courses of random length, with worn edges, grout, tilt and grime."""
    course = 0.45
    grout = 0.012
    row = np.floor(ys / course).astype(np.int64)
    stone = np.empty((ys.size, xs.size), np.int64)
    lx = np.empty((ys.size, xs.size), np.float32)
    lw = np.empty((ys.size, xs.size), np.float32)
    next_id = 0
    starts = np.flatnonzero(np.diff(row, prepend=-1))
    for r0, r1 in zip(starts, [*starts[1:], ys.size], strict=True):
        # Each course is cut into stones of random length; searchsorted finds each texel's stone.
        lengths = rng.uniform(0.35, 0.95, int(xs[-1] / 0.35) + 4).astype(np.float32)
        bounds = np.concatenate([[0.0], np.cumsum(lengths)]) - rng.uniform(0.0, 0.6)
        k = np.searchsorted(bounds, xs, side="right") - 1
        stone[r0:r1] = next_id + k
        lx[r0:r1] = xs - bounds[k]
        lw[r0:r1] = lengths[k]
        next_id += len(lengths)
    ly = np.broadcast_to((ys - row * course)[:, None], stone.shape)
    edge = _edge_distance(lx, ly, lw, course) - 0.5 * grout
    edge = edge + 0.006 * fbm(xs, ys, 0.05, rng, octaves=3, min_cell_m=texel_m)
    in_stone = smoothstep(-0.5 * texel_m, 0.5 * texel_m, edge)

    rnd = _table(rng, stone)
    pal = np.stack(STONE_PALETTE)
    colour = pal[(rnd[..., 0] * len(pal)).astype(np.int64) % len(pal)]
    colour = colour * (0.82 + 0.3 * rnd[..., 1:2])
    mottle = fbm(xs, ys, 0.25, rng, octaves=6, min_cell_m=texel_m)
    speck = value_noise(xs, ys, max(0.005, 1.5 * texel_m), rng)
    worn = smoothstep(0.0, 0.05, edge)  # grime collects near joints
    colour = colour * ((1.0 + 0.25 * mottle + 0.12 * speck) * (0.72 + 0.28 * worn))[..., None]
    moss = smoothstep(0.1, 0.5, fbm(xs, ys, 0.5, rng, octaves=3))
    grout_col = _mix(srgb(70, 66, 60), srgb(58, 72, 40), moss)
    albedo = _mix(grout_col, colour, in_stone)

    stains = fbm(xs, ys, 2.5, rng, octaves=4)
    wet = smoothstep(0.15, 0.45, fbm(xs, ys, 1.5, rng, octaves=3))
    albedo = albedo * ((1.0 + 0.22 * stains) * (1.0 - 0.3 * wet))[..., None]

    tilt_x, tilt_y = (rnd[..., 2] - 0.5) * 0.02, (rnd[..., 3] - 0.5) * 0.02
    height = (
        np.clip(edge, -0.01, 0.006)
        + tilt_x * (lx - 0.5 * lw)
        + tilt_y * (ly - 0.5 * course)
        + 0.0015 * mottle
    )
    return Surface(albedo.astype(np.float32), height.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Props


def _wood_grain(xs: Array, ys: Array, rng: np.random.Generator, texel_m: float) -> Array:
    # Rings along x: a warped 1-D stripe pattern across y, streaky noise for the fibres.
    warp = fbm(xs, ys, 0.6, rng, octaves=4, stretch=(4.0, 1.0), min_cell_m=texel_m)
    rings = np.sin((ys[:, None] + 0.05 * warp) * (2 * np.pi / 0.011))
    fibre = fbm(xs, ys, 0.03, rng, octaves=4, stretch=(8.0, 1.0), min_cell_m=texel_m)
    return 0.5 * rings + 0.5 * fibre


def crate(
    xs: Array,
    ys: Array,
    rng: np.random.Generator,
    texel_m: float,
    *,
    wood: Array | None = None,
    label: bool = True,
) -> Surface:
    """A wooden crate face: horizontal planks, a frame of boards, a diagonal brace, a label."""
    wood = srgb(176, 132, 84) if wood is None else wood
    w, h = float(xs[-1] + xs[0]), float(ys[-1] + ys[0])
    gx, gy = _grid(xs, ys)
    plank_h = h / max(2, round(h / 0.14))
    plank = np.floor(gy / plank_h).astype(np.int64)
    gap = 1.0 - smoothstep(0.002, 0.005, _edge_distance(gx, np.mod(gy, plank_h), w, plank_h))
    board = 0.085
    frame = (gx < board) | (gx > w - board) | (gy < board) | (gy > h - board)
    # Diagonal brace: distance from the diagonal line between the frame's inner corners.
    d = np.abs((gx - board) * (h - 2 * board) - (gy - board) * (w - 2 * board))
    brace = (d / np.hypot(w - 2 * board, h - 2 * board) < 0.5 * board) & ~frame

    part = np.where(frame, 1000 + (gy < board) + 2 * (gy > h - board), plank)
    part = np.where(brace, 2000, part)
    rnd = _table(rng, part)
    colour = wood[None, None, :] * (0.7 + 0.55 * rnd[..., 0:1])
    grain = _wood_grain(xs, ys, rng, texel_m)
    colour = colour * (1.0 + 0.16 * grain)[..., None]
    weather = fbm(xs, ys, 0.3, rng, octaves=5, min_cell_m=texel_m)
    colour = colour * (1.0 + 0.2 * weather)[..., None]

    raised = frame | brace
    outline = _edge_distance(gx, gy, w, h)
    height = 0.018 * raised - 0.004 * gap * (~raised) + 0.0008 * grain
    shadow = np.where(raised, 1.0, 0.82)  # inner planks sit in the frame's shade
    albedo = colour * (shadow * (1.0 - 0.7 * gap * (~raised)))[..., None]
    albedo = albedo * (0.75 + 0.25 * smoothstep(0.0, 0.01, outline))[..., None]

    if label and w > 0.45 and h > 0.35:
        albedo = _stencil(albedo, xs, ys, rng, w, h)
    return Surface(albedo.astype(np.float32), height.astype(np.float32))


def _stencil(
    albedo: Array, xs: Array, ys: Array, rng: np.random.Generator, w: float, h: float
) -> Array:
    # A paper shipping label with rows of dark "text" marks: distinctive, trackable detail.
    lw, lh = rng.uniform(0.18, 0.3) * w + 0.06, rng.uniform(0.14, 0.22) * h + 0.05
    x0, y0 = rng.uniform(0.15, 0.85 - lw / w) * w, rng.uniform(0.2, 0.8 - lh / h) * h
    gx, gy = _grid(xs, ys)
    inside = (gx > x0) & (gx < x0 + lw) & (gy > y0) & (gy < y0 + lh)
    paper = srgb(222, 214, 190) * (1.0 + 0.05 * value_noise(xs, ys, 0.02, rng))[..., None]
    lx, ly = gx - x0, gy - y0
    line_h = lh / 5.0
    line = np.floor(ly / line_h)
    in_line = (np.mod(ly, line_h) > 0.3 * line_h) & (line >= 1) & (line <= 3)
    glyph_w = 0.018
    glyph = np.floor(lx / glyph_w).astype(np.int64) * 7 + line.astype(np.int64)
    ink = (_table(rng, glyph)[..., 0] > 0.3) & (np.mod(lx, glyph_w) > 0.35 * glyph_w)
    ink &= in_line & (lx > 0.1 * lw) & (lx < 0.9 * lw - glyph_w)
    label = np.where(ink[..., None], srgb(30, 30, 35), paper)
    return np.where(inside[..., None], label, albedo)


def painted_metal(
    xs: Array, ys: Array, rng: np.random.Generator, texel_m: float, *, paint: Array
) -> Surface:
    """Corrugated painted steel with fading, scratches, rust patches and run streaks."""
    gx, _ = _grid(xs, ys)
    pitch = 0.14
    phase = np.mod(gx, pitch) / pitch
    profile = np.clip(np.abs(phase - 0.5) * 4.0 - 0.5, 0.0, 1.0)  # trapezoid ribs
    fade = fbm(xs, ys, 0.9, rng, octaves=6, min_cell_m=texel_m)
    colour = paint[None, None, :] * (1.0 + 0.15 * fade + 0.08 * profile)[..., None]
    rust_n = fbm(xs, ys, 0.35, rng, octaves=6, min_cell_m=texel_m)
    rust = smoothstep(0.25, 0.4, rust_n)
    rust_col = srgb(120, 62, 30) * (1.0 + 0.4 * fbm(xs, ys, 0.03, rng, octaves=3))[..., None]
    runs = smoothstep(0.1, 0.5, fbm(xs, ys, 0.5, rng, octaves=4, stretch=(0.1, 1.0)))
    colour = _mix(colour, rust_col, np.maximum(rust, 0.4 * runs * (rust_n > 0.0)))
    scratch = _cracks(xs, ys, rng, 0.25, 0.02)
    colour = colour * (1.0 + 0.5 * scratch)[..., None]
    height = 0.012 * profile + 0.001 * rust
    return Surface(np.clip(colour, 0, 1).astype(np.float32), height.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Details painted onto walls


def _window_slices(
    xs: Array, ys: Array, x0: float, x1: float, y0: float, y1: float
) -> tuple[slice, slice]:
    # Texel index ranges covering [x0, x1] x [y0, y1]: details are painted locally, not
    # over the whole (large) wall.
    cx = slice(int(np.searchsorted(xs, x0)), int(np.searchsorted(xs, x1)))
    cy = slice(int(np.searchsorted(ys, y0)), int(np.searchsorted(ys, y1)))
    return cy, cx


def add_window(
    surface: Surface, xs: Array, ys: Array, rect: Rect, rng: np.random.Generator
) -> Surface:
    """Paint a framed, recessed four-pane window with a sill into a wall surface (in place)."""
    sy, sx = _window_slices(xs, ys, rect.x - 0.1, rect.x + rect.w + 0.1, rect.y, ys[-1] + 1.0)
    xs, ys = xs[sx], ys[sy]
    albedo, height = surface.albedo[sy, sx], surface.height[sy, sx]
    if albedo.size == 0:
        return surface
    gx, gy = _grid(xs, ys)
    inside = (gx > rect.x) & (gx < rect.x + rect.w) & (gy < rect.y + rect.h)
    lx, ly = gx - rect.x, gy - rect.y
    frame_w = 0.07
    bar = (np.abs(lx - rect.w / 2) < 0.025) | (np.abs(ly - rect.h * 0.42) < 0.025)
    frame = inside & (bar | (_edge_distance(lx, ly, rect.w, rect.h) < frame_w))
    glass = inside & ~frame
    sky = np.clip(1.0 - ly / rect.h, 0, 1)
    refl = fbm(xs, ys, 0.4, rng, octaves=3)
    glass_col = _mix(srgb(34, 40, 48), srgb(110, 126, 140), (0.6 * sky + 0.25 * refl).clip(0, 1))
    paint = srgb(214, 210, 198) * (1.0 + 0.08 * fbm(xs, ys, 0.1, rng, octaves=3))[..., None]
    sill = (gx > rect.x - 0.06) & (gx < rect.x + rect.w + 0.06) & (gy > rect.y + rect.h)
    sill &= gy < rect.y + rect.h + 0.07
    sill_col = srgb(176, 170, 158) * (1.0 + 0.2 * fbm(xs, ys, 0.1, rng, octaves=3))[..., None]
    out = np.where(glass[..., None], glass_col, albedo)
    out = np.where(frame[..., None], paint, out)
    out = np.where(sill[..., None], sill_col, out)
    # Grime running down the wall below the sill.
    below = (gy > rect.y + rect.h + 0.07) & (gx > rect.x) & (gx < rect.x + rect.w)
    streak = 0.5 + 0.5 * fbm(xs, ys, 0.3, rng, octaves=3, stretch=(0.15, 1.0))
    drop = np.exp(-np.clip(gy - rect.y - rect.h, 0, None) / 0.6)
    albedo[...] = out * (1.0 - 0.35 * (below * streak * drop))[..., None]
    h = np.where(glass, -0.08, np.where(frame, -0.03, height))
    height[...] = np.where(sill, 0.04, h)
    return surface


def add_door(
    surface: Surface, xs: Array, ys: Array, rect: Rect, rng: np.random.Generator
) -> Surface:
    """Paint a planked wooden door (with a dark handle) into a wall surface (in place)."""
    sy, sx = _window_slices(xs, ys, rect.x, rect.x + rect.w, rect.y, rect.y + rect.h)
    xs, ys = xs[sx], ys[sy]
    if xs.size == 0 or ys.size == 0:
        return surface
    gx, gy = _grid(xs, ys)
    lx = gx - rect.x
    plank_w = rect.w / 6
    gap = np.mod(lx, plank_w) < 0.006
    grain = _wood_grain(ys, xs, rng, 0.0).T  # grain runs vertically on a door
    wood = srgb(92, 60, 40) * (1.0 + 0.2 * grain)[..., None]
    rnd = _table(rng, np.floor(lx / plank_w).astype(np.int64))
    wood = wood * (0.8 + 0.4 * rnd[..., 0:1]) * np.where(gap, 0.4, 1.0)[..., None]
    handle = np.hypot(lx - rect.w * 0.85, gy - rect.y - rect.h * 0.55) < 0.035
    surface.albedo[sy, sx] = np.where(handle[..., None], srgb(25, 25, 25), wood)
    surface.height[sy, sx] = -0.05 - 0.004 * gap + 0.03 * handle
    return surface


def weathering(
    surface: Surface,
    xs: Array,
    ys: Array,
    rng: np.random.Generator,
    texel_m: float,
    *,
    top_y: float | None,
    strength: float = 1.0,
) -> Surface:
    """Large-scale dirt: rain streaks below the top edge and splash grime near the ground.

    `top_y` is the world height of row 0 for vertical faces (rows run downwards); None for
    horizontal faces, which only get blotchy dirt.
    """
    blotch = fbm(xs, ys, 1.5, rng, octaves=5, min_cell_m=texel_m)
    shade = 1.0 + 0.15 * strength * blotch
    tint = np.ones(3, np.float32)
    if top_y is not None:
        streaks = fbm(xs, ys, 0.6, rng, octaves=5, stretch=(0.12, 1.0), min_cell_m=texel_m)
        from_top = np.exp(-ys / 1.2)[:, None]
        height_above = np.maximum(top_y - ys, 0.0)[:, None]
        splash = np.exp(-height_above / 0.35) * (0.7 + 0.3 * blotch)
        shade = shade * (1.0 - strength * (0.3 * from_top * (0.5 + 0.5 * streaks) + 0.35 * splash))
        tint = _mix(np.ones(3, np.float32), np.array([0.85, 1.0, 0.75], np.float32), splash)
    albedo = surface.albedo * shade[..., None] * tint
    return Surface(np.clip(albedo, 0.0, 1.0).astype(np.float32), surface.height)
