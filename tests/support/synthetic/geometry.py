"""Scene primitives: textured rectangles ("quads") and yawed boxes made of them.

World frame: right-handed, +Y up, metres, ground plane at y = 0.

A quad is one-sided. Seen from its front it is laid out like an image: `origin` is its top-left
corner, `u` runs to the right along the texture's columns and `v` runs down along its rows, so
the front normal is `v x u` (pointing at the viewer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

Array = np.ndarray

DOWN = np.array([0.0, -1.0, 0.0])
UP = np.array([0.0, 1.0, 0.0])


def _unit(v: Array) -> Array:
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class Quad:
    origin: Array  # (3,) top-left corner seen from the front
    u: Array  # (3,) edge to the right; its length is the quad's width in metres
    v: Array  # (3,) edge downwards; its length is the quad's height in metres
    material: str = "flat"
    detail: bool = True  # False for faces nobody will see up close (cheap, coarse texture)

    @cached_property
    def width(self) -> float:
        return float(np.linalg.norm(self.u))

    @cached_property
    def height(self) -> float:
        return float(np.linalg.norm(self.v))

    @cached_property
    def u_hat(self) -> Array:
        return _unit(self.u)

    @cached_property
    def v_hat(self) -> Array:
        return _unit(self.v)

    @cached_property
    def normal(self) -> Array:
        return _unit(np.cross(self.v, self.u))

    def point(self, a: Array | float, b: Array | float) -> Array:
        """World point at face coordinates (a right, b down), metres from the origin."""
        a, b = np.asarray(a, float)[..., None], np.asarray(b, float)[..., None]
        return self.origin + a * self.u_hat + b * self.v_hat


def vertical_quad(centre: Array, normal: Array, width: float, height: float, **kw) -> Quad:
    """An upright quad facing `normal` (horizontal), centred at `centre`."""
    n = _unit(np.asarray(normal, float))
    u = np.cross(n, DOWN) * width  # right as seen from the front
    v = DOWN * height
    return Quad(np.asarray(centre, float) - 0.5 * u - 0.5 * v, u, v, **kw)


@dataclass(frozen=True)
class Box:
    """A box standing on `base_y`, rotated by `yaw` (radians, about +Y) around its centre."""

    centre_xz: tuple[float, float]
    base_y: float
    size: tuple[float, float, float]  # (x, y, z) extents in the box's own frame, metres
    yaw: float = 0.0
    material: str = "crate"
    params: dict = field(default_factory=dict, compare=False)
    detail_faces: tuple[str, ...] = ("+x", "-x", "+z", "-z", "+y")

    @cached_property
    def rotation(self) -> Array:
        """Box-to-world rotation (yaw about +Y)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    @cached_property
    def centre(self) -> Array:
        return np.array([self.centre_xz[0], self.base_y + 0.5 * self.size[1], self.centre_xz[1]])

    @property
    def top_y(self) -> float:
        return self.base_y + self.size[1]

    def to_local(self, points: Array) -> Array:
        return (np.asarray(points) - self.centre) @ self.rotation

    @cached_property
    def corners(self) -> Array:
        """(8, 3) world corners."""
        hx, hy, hz = (0.5 * s for s in self.size)
        local = np.array([[x, y, z] for x in (-hx, hx) for y in (-hy, hy) for z in (-hz, hz)])
        return local @ self.rotation.T + self.centre

    def faces(self) -> list[tuple[str, Quad]]:
        """The four sides and the top, outward-facing (the bottom is never visible)."""
        sx, sy, sz = self.size
        rot, c = self.rotation, self.centre
        out = []
        for name, axis, width in (("+x", 0, sz), ("-x", 0, sz), ("+z", 2, sx), ("-z", 2, sx)):
            n_local = np.zeros(3)
            n_local[axis] = 1.0 if name[0] == "+" else -1.0
            half = 0.5 * (sx if axis == 0 else sz)
            n = rot @ n_local
            quad = vertical_quad(c + n * half, n, width, sy, material=self.material)
            out.append((name, quad))
        # Top: u along the box's +x, v along its +z, so v x u = +y.
        u, v = rot @ np.array([sx, 0.0, 0.0]), rot @ np.array([0.0, 0.0, sz])
        top = Quad(c + np.array([0.0, 0.5 * sy, 0.0]) - 0.5 * u - 0.5 * v, u, v, self.material)
        out.append(("+y", top))
        return [
            (name, Quad(q.origin, q.u, q.v, q.material, name in self.detail_faces))
            for name, q in out
        ]

    def footprint_distance(self, xz: Array) -> Array:
        """Distance (m) in the ground plane from points (..., 2) to the box footprint; 0 inside."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        dx, dz = xz[..., 0] - self.centre_xz[0], xz[..., 1] - self.centre_xz[1]
        lx, lz = c * dx - s * dz, s * dx + c * dz
        qx = np.maximum(np.abs(lx) - 0.5 * self.size[0], 0.0)
        qz = np.maximum(np.abs(lz) - 0.5 * self.size[2], 0.0)
        return np.hypot(qx, qz)

    def ray_hits(self, origins: Array, direction: Array) -> Array:
        """Whether rays from `origins` (N, 3) along one `direction` hit this box (slab test)."""
        o = self.to_local(origins)
        d = direction @ self.rotation
        half = 0.5 * np.asarray(self.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1, t2 = (-half - o) * inv, (half - o) * inv
        t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
        return t_far > np.maximum(t_near, 0.0)
