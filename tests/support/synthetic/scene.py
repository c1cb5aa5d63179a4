"""The synthetic set: a walled courtyard with paving, brick and plaster walls, windows, doors,
pillars, crates and painted metal cabinets, laid out deterministically from a seed.

The courtyard interior spans x, z in [-HALF, HALF] (metres), ground at y = 0, +Y up. Props
stand either in a central cluster (radius <= PROP_RADIUS) or along the walls, leaving a free
ring around the centre where the camera paths in `camera.py` travel.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from . import materials as mat
from .atlas import TextureAtlas
from .geometry import Box, Quad
from .lighting import Light, bake
from .noise import Array, fbm, texel_axis

HALF = 8.0  # courtyard half-size (m)
PROP_RADIUS = 3.0  # central props stay inside this radius
WALL_BAND = 6.5  # wall-side props stay beyond this distance from the centre (Chebyshev)
CAMERA_RING = (4.6, 6.2)  # camera paths stay inside this ring (and max(|x|, |z|) < 6.2)

_WOODS = [mat.srgb(176, 132, 84), mat.srgb(150, 112, 74), mat.srgb(196, 160, 110)]
_PAINTS = [mat.srgb(40, 90, 120), mat.srgb(60, 110, 70), mat.srgb(170, 70, 40)]


@dataclass(frozen=True)
class Scene:
    seed: int
    quads: list[Quad]
    boxes: list[Box]
    light: Light
    atlas: TextureAtlas
    target: Array  # (3,) the point the camera paths look at
    orbit_radius: float
    eye_height: float

    # Per-quad geometry packed for the renderer: (Q, 3) vectors and (Q,) sizes.
    @cached_property
    def origins(self) -> Array:
        return np.stack([q.origin for q in self.quads])

    @cached_property
    def u_hats(self) -> Array:
        return np.stack([q.u_hat for q in self.quads])

    @cached_property
    def v_hats(self) -> Array:
        return np.stack([q.v_hat for q in self.quads])

    @cached_property
    def normals(self) -> Array:
        return np.stack([q.normal for q in self.quads])

    @cached_property
    def sizes(self) -> Array:
        return np.array([[q.width, q.height] for q in self.quads])

    @cached_property
    def sizes_f32(self) -> Array:
        return self.sizes.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Layout


def _walls(rng: np.random.Generator) -> list[Box]:
    t = 0.4
    heights = rng.uniform(4.4, 6.0, 4)
    specs = [
        # (centre xz, size, inward face, material, paint)
        ((0.0, -HALF - t / 2), (2 * HALF + 2 * t, heights[0], t), "+z", "bricks", None),
        ((0.0, HALF + t / 2), (2 * HALF + 2 * t, heights[1], t), "-z", "plaster", 0),
        ((-HALF - t / 2, 0.0), (t, heights[2], 2 * HALF), "+x", "bricks", None),
        ((HALF + t / 2, 0.0), (t, heights[3], 2 * HALF), "-x", "plaster", 1),
    ]
    paints = [mat.srgb(206, 172, 118), mat.srgb(176, 184, 178)]
    walls = []
    for centre, size, face, material, paint in specs:
        params = {"role": "wall", "paint": None if paint is None else paints[paint]}
        walls.append(Box(centre, 0.0, size, 0.0, material, params, detail_faces=(face,)))
    return walls


def _backdrop() -> list[Box]:
    # Taller buildings beyond two walls give the skyline depth and far-field features.
    return [
        Box((-3.0, -15.0), 0.0, (10.0, 11.0, 8.0), 0.0, "plaster", _backdrop_params(0), ("+z",)),
        Box((14.5, 2.0), 0.0, (8.0, 9.0, 11.0), 0.0, "bricks", _backdrop_params(1), ("-x",)),
    ]


def _backdrop_params(i: int) -> dict:
    return {"role": "building", "paint": [mat.srgb(190, 180, 160), None][i]}


def _fits(x: float, z: float, r: float, placed: list[tuple[float, float, float]]) -> bool:
    return all(np.hypot(x - px, z - pz) > r + pr + 0.15 for px, pz, pr in placed)


def _props(rng: np.random.Generator) -> list[Box]:
    boxes: list[Box] = []
    placed: list[tuple[float, float, float]] = []

    def place(
        size: tuple[float, float, float], material: str, params: dict, central: bool
    ) -> Box | None:
        r = 0.5 * float(np.hypot(size[0], size[2]))
        for _ in range(200):
            if central:
                ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, PROP_RADIUS - r)
                x, z = rad * np.cos(ang), rad * np.sin(ang)
                yaw = rng.uniform(-0.5, 0.5)
            else:
                # Along a wall, long side parallel to it (turned a little): the depth away
                # from the wall is what must fit between WALL_BAND and the wall.
                side = int(rng.integers(4))
                jitter = rng.uniform(-0.15, 0.15)
                yaw = jitter + (0.5 * np.pi if side >= 2 else 0.0)
                depth = 0.5 * size[2] + 0.5 * size[0] * abs(np.sin(jitter)) + 0.05
                if WALL_BAND + depth > HALF - depth:
                    return None
                along = rng.uniform(-HALF + r + 0.2, HALF - r - 0.2)
                off = rng.uniform(WALL_BAND + depth, HALF - depth)
                x, z = [(along, -off), (along, off), (-off, along), (off, along)][side]
            if _fits(x, z, r, placed):
                placed.append((x, z, r))
                if material == "concrete":
                    yaw = 0.2 * yaw
                box = Box((x, z), 0.0, size, yaw, material, params)
                boxes.append(box)
                return box
        return None

    def crate_size(lo: float, hi: float) -> tuple[float, float, float]:
        s = rng.uniform(lo, hi)
        return (s * rng.uniform(0.9, 1.4), s * rng.uniform(0.8, 1.1), s)

    for central, count in ((True, 6), (False, 7)):
        for _ in range(count):
            wood = _WOODS[rng.integers(len(_WOODS))]
            lower = place(crate_size(0.55, 1.1), "crate", {"wood": wood}, central)
            if lower is not None and rng.random() < 0.45:
                # Stack a smaller crate on top, turned a little.
                s = rng.uniform(0.55, 0.8)
                size = (lower.size[0] * s, lower.size[1] * s, lower.size[2] * s)
                boxes.append(
                    Box(
                        lower.centre_xz,
                        lower.top_y,
                        size,
                        lower.yaw + rng.uniform(-0.3, 0.3),
                        "crate",
                        {"wood": _WOODS[rng.integers(len(_WOODS))]},
                    )
                )
    for central in (False, False):
        paint = _PAINTS[rng.integers(len(_PAINTS))]
        size = (rng.uniform(1.6, 2.4), rng.uniform(1.1, 1.6), rng.uniform(0.6, 0.9))
        place(size, "metal", {"paint": paint}, central)
    for _ in range(3):
        place((0.45, rng.uniform(2.8, 3.6), 0.45), "concrete", {}, False)
    place((rng.uniform(1.8, 2.8), 0.6, 0.6), "concrete", {"tint": mat.srgb(170, 160, 140)}, False)
    place((1.2, 0.45, 0.5), "concrete", {"tint": mat.srgb(128, 124, 120)}, True)
    return boxes


# --------------------------------------------------------------------------------------------
# Surfaces


def _openings(quad: Quad, rng: np.random.Generator, building: bool) -> list[tuple[str, mat.Rect]]:
    # Windows in rows across the face; a door on some ground floors.
    w, h = quad.width, quad.height
    out: list[tuple[str, mat.Rect]] = []
    storey = 3.0
    floors = int((h - 0.8) // storey) if building else (1 if h < 5.2 else 2)
    pitch = rng.uniform(2.4, 3.4)
    n = int((w - 1.0) // pitch)
    x0 = 0.5 * (w - (n - 1) * pitch)
    door_at = rng.integers(n) if n and rng.random() < 0.8 and not building else -1
    for floor in range(floors):
        y_bottom = h - (0.0 if building else 0.9) - 1.9 - floor * storey
        for i in range(n):
            if i == door_at and floor == 0:
                out.append(("door", mat.Rect(x0 + i * pitch - 0.55, h - 2.15, 1.1, 2.15)))
            elif rng.random() < 0.85 and y_bottom - 1.45 > 0.3:
                out.append(("window", mat.Rect(x0 + i * pitch - 0.5, y_bottom - 1.45, 1.0, 1.45)))
    return out


def _surface(
    box: Box, face: str, quad: Quad, xs: Array, ys: Array, rng: np.random.Generator, texel: float
) -> mat.Surface:
    m, p = box.material, box.params
    if not quad.detail:
        # Faces nobody sees up close: a plain, slightly mottled colour.
        base = {"crate": _WOODS[0], "metal": _PAINTS[0]}.get(m, mat.srgb(140, 130, 120))
        albedo = base * (1.0 + 0.1 * fbm(xs, ys, 1.0, rng, octaves=2))[..., None]
        return mat.Surface(albedo.astype(np.float32), np.zeros(albedo.shape[:2], np.float32))
    if m == "bricks":
        s = mat.bricks(xs, ys, rng, texel)
    elif m == "plaster":
        s = mat.plaster(xs, ys, rng, texel, paint=p["paint"])
    elif m == "crate":
        label = face != "+y" and rng.random() < 0.4
        s = mat.crate(xs, ys, rng, texel, wood=p.get("wood"), label=label)
    elif m == "metal":
        s = mat.painted_metal(xs, ys, rng, texel, paint=p["paint"])
    elif m == "concrete":
        s = mat.concrete(xs, ys, rng, texel, tint=p.get("tint"))
    else:
        raise ValueError(f"unknown material {m!r}")
    if p.get("role") in ("wall", "building"):
        for kind, rect in _openings(quad, rng, p["role"] == "building"):
            add = mat.add_door if kind == "door" else mat.add_window
            s = add(s, xs, ys, rect, rng)
    vertical = abs(quad.normal[1]) < 0.5
    strength = 1.0 if p.get("role") else 0.6
    return mat.weathering(
        s, xs, ys, rng, texel, top_y=float(quad.origin[1]) if vertical else None, strength=strength
    )


def build_courtyard(seed: int = 0, texel_m: float = 0.01) -> Scene:
    """Lay out, texture and light the courtyard. Deterministic in (seed, texel_m).

    `texel_m` is the texture resolution (metres per texel) of walls and ground; props get a
    finer one since the camera passes closer to them. Pick it to match the render: about
    5 / fx (fx in output pixels) keeps textures near one texel per pixel a few metres away.
    """
    rng = np.random.default_rng([seed, 1])
    walls, props = _walls(rng), _props(rng)
    boxes = walls + _backdrop() + props
    light = Light.default(azimuth_deg=215.0 + rng.uniform(-20, 20))

    # Ground: u along +x, v along +z, so its front normal v x u is +y.
    ground = Quad(
        np.array([-HALF, 0.0, -HALF]),
        np.array([2 * HALF, 0.0, 0.0]),
        np.array([0.0, 0.0, 2 * HALF]),
    )
    faces: list[tuple[Quad, Box | None, str, float]] = [(ground, None, "ground", texel_m)]
    for box in boxes:
        role = box.params.get("role")
        # Walls and buildings are always metres away; props are what the camera passes close to.
        t = texel_m * {"building": 2.5, "wall": 1.5}.get(role, 0.8)
        for name, quad in box.faces():
            faces.append((quad, box, name, t if quad.detail else 0.25))

    def make(i: int) -> tuple[Array, float]:
        quad, box, name, t = faces[i]
        frng = np.random.default_rng([seed, 2, i])  # per face, so threads cannot reorder draws
        xs, ys = texel_axis(quad.width, t), texel_axis(quad.height, t)
        if box is None:
            surface = mat.weathering(mat.paving(xs, ys, frng, t), xs, ys, frng, t, top_y=None)
        else:
            surface = _surface(box, name, quad, xs, ys, frng, t)
        floor_y = box.base_y if box is not None else 0.0
        shadow_t = min(max(0.035, 1.5 * t), quad.width / 8, quad.height / 8)
        shadow_t = shadow_t if quad.detail else 0.25
        tex = bake(
            quad, surface, xs, ys, light, occluders=boxes, floor_y=floor_y,
            shadow_texel_m=shadow_t, rng=frng,
        )  # fmt: skip
        return tex, quad.width / xs.size

    # numpy releases the GIL in its array loops, so faces bake in parallel on threads.
    # Biggest faces first keeps both workers busy to the end.
    def texel_count(i: int) -> float:
        return faces[i][0].width * faces[i][0].height / faces[i][3] ** 2

    order = sorted(range(len(faces)), key=texel_count, reverse=True)
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        baked = dict(zip(order, pool.map(make, order), strict=True))
    quads = [f[0] for f in faces]
    textures = [baked[i][0] for i in range(len(faces))]
    texels = [baked[i][1] for i in range(len(faces))]

    return Scene(
        seed=seed,
        quads=quads,
        boxes=boxes,
        light=light,
        atlas=TextureAtlas.pack(textures, texels),
        target=np.array([0.0, 0.8, 0.0]),
        orbit_radius=5.6,
        eye_height=1.65,
    )


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@lru_cache(maxsize=4)
def courtyard(seed: int = 0, texel_m: float = 0.01) -> Scene:
    """Cached `build_courtyard` (a few scenes; one at 1 cm texels is ~100 MB): tests and
    multi-clip renders reuse one baked scene. Treat it as read-only."""
    return build_courtyard(seed, texel_m)
