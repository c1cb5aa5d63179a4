"""Vectorised numpy ray caster: per-pixel rays against the scene's quads, nearest hit wins.

Rays go through pixel centres (see `camera.py`): with `supersample = s`, output pixel (u, v) is
the mean of s x s sub-pixel rays at (u + (i + 0.5) / s, v + (j + 0.5) / s), i, j in [0, s).

For a quad with camera-space plane n . X = d, a ray X = z * (x, y, 1) hits at
z = d / (n . (x, y, 1)), and the hit's face coordinates are z * (r . u) - (o . u) etc. Every
term is an affine function of the pixel grid, so each quad costs a few broadcast
multiply-adds over the screen rectangle its projection covers, and nothing else.
"""

from __future__ import annotations

import numpy as np

from .camera import Intrinsics
from .lighting import sky_radiance
from .scene import Scene

Array = np.ndarray

NEAR = 0.05  # metres; nearer hits are ignored
EDGE_EPS = 1e-3  # metres; quads overlap this much at their edges so shared box edges never crack


def _clip_near(poly: Array, near: float) -> Array:
    # Sutherland-Hodgman clip of a convex camera-space polygon (M, 3) against z >= near.
    out = []
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        p_in, q_in = p[2] >= near, q[2] >= near
        if p_in:
            out.append(p)
        if p_in != q_in:
            t = (near - p[2]) / (q[2] - p[2])
            out.append(p + t * (q - p))
    return np.array(out)


def _pixel_rays(intr: Intrinsics, s: int) -> tuple[Array, Array]:
    # Normalised image-plane coordinates of every sub-pixel centre, per column and per row.
    xs = ((np.arange(intr.width * s) + 0.5) / s - intr.cx) / intr.fx
    ys = ((np.arange(intr.height * s) + 0.5) / s - intr.cy) / intr.fy
    return xs.astype(np.float32), ys.astype(np.float32)


def trace(
    scene: Scene, c2w: Array, intr: Intrinsics, supersample: int = 1
) -> tuple[Array, Array, Array, Array]:
    """Primary visibility at sub-pixel resolution.

    Returns (ids, a, b, z): hit quad index (-1 for sky), face coordinates in metres and
    camera-space depth z, each of shape (height * s, width * s).
    """
    s = supersample
    xs, ys = _pixel_rays(intr, s)
    hs, ws = ys.size, xs.size
    rot, centre = c2w[:3, :3], c2w[:3, 3]
    # Quad frames in camera coordinates (row vectors: p_cam = (p - C) @ R).
    o = (scene.origins - centre) @ rot
    u, v, n = scene.u_hats @ rot, scene.v_hats @ rot, scene.normals @ rot
    d = _plane_offsets(scene, c2w).astype(np.float64)
    ou, ov = np.einsum("ij,ij->i", o, u), np.einsum("ij,ij->i", o, v)
    sizes = scene.sizes

    zbuf = np.full((hs, ws), np.inf, np.float32)
    abuf = np.zeros((hs, ws), np.float32)
    bbuf = np.zeros((hs, ws), np.float32)
    ids = np.full((hs, ws), -1, np.int32)
    fx, fy = intr.fx * s, intr.fy * s
    cx, cy = intr.cx * s, intr.cy * s

    for q in np.flatnonzero(d < 0.0):  # d < 0: the camera is on the quad's front side
        w, h = sizes[q]
        poly = o[q] + np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]]) @ np.stack([u[q], v[q]])
        poly = _clip_near(poly, NEAR)
        if len(poly) < 3:
            continue
        # Sub-pixel index range covered by the projection (centre of index i is at i + 0.5).
        px = fx * poly[:, 0] / poly[:, 2] + cx - 0.5
        py = fy * poly[:, 1] / poly[:, 2] + cy - 0.5
        c0, c1 = max(int(np.floor(px.min())), 0), min(int(np.ceil(px.max())) + 1, ws)
        r0, r1 = max(int(np.floor(py.min())), 0), min(int(np.ceil(py.max())) + 1, hs)
        if c0 >= c1 or r0 >= r1:
            continue
        xr, yr = xs[None, c0:c1], ys[r0:r1, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.float32(d[q]) / (n[q, 0] * xr + (n[q, 1] * yr + n[q, 2]))
            a = z * (u[q, 0] * xr + (u[q, 1] * yr + u[q, 2])) - ou[q]
            b = z * (v[q, 0] * xr + (v[q, 1] * yr + v[q, 2])) - ov[q]
            zb = zbuf[r0:r1, c0:c1]
            hit = (z > NEAR) & (z < zb)
            hit &= (a > -EDGE_EPS) & (a < w + EDGE_EPS) & (b > -EDGE_EPS) & (b < h + EDGE_EPS)
        np.copyto(zb, z, where=hit)
        np.copyto(abuf[r0:r1, c0:c1], a, where=hit)
        np.copyto(bbuf[r0:r1, c0:c1], b, where=hit)
        np.copyto(ids[r0:r1, c0:c1], np.int32(q), where=hit)
    return ids, abuf, bbuf, zbuf


def render_view(
    scene: Scene, c2w: Array, intr: Intrinsics, supersample: int = 2
) -> tuple[Array, Array]:
    """Linear scene radiance (H, W, 3) and depth (H, W) for one camera pose.

    Depth is camera-space z in metres (distance along the forward axis, not along the ray),
    inf where only sky is seen. With supersampling it is 1 / mean(1 / z) over the sub-pixels:
    on a plane 1/z is affine in image coordinates, so that equals z at the pixel centre
    exactly; across silhouettes it blends (and sky-mixed pixels read too far).
    """
    s = int(supersample)
    h, w = intr.height, intr.width
    ids, a, b, z = trace(scene, c2w, intr, s)
    plane_d = _plane_offsets(scene, c2w)
    rot = c2w[:3, :3].astype(np.float32)
    inv_z = _box_down(1.0 / z, s)  # z is inf on sky, so sky contributes 0
    with np.errstate(divide="ignore"):
        depth = (1.0 / inv_z).astype(np.float32)

    # Supersampling is for geometric edges. Where all s x s sub-samples hit the same quad (most
    # pixels), one texture lookup at the pixel centre, mip-filtered for the whole pixel, gives
    # the same picture at a quarter of the cost; only mixed pixels shade every sub-sample.
    sub = ids.reshape(h, s, w, s)
    q_px = sub[:, 0, :, 0]
    uniform = (sub == q_px[:, None, :, None]).all(axis=(1, 3)).ravel()
    q_px = q_px.ravel()
    xc, yc = _pixel_rays(intr, 1)
    out = np.empty((h * w, 3), np.float32)

    px = np.flatnonzero(uniform & (q_px >= 0))
    if px.size:
        a_px, b_px = _box_down(a, s).ravel()[px], _box_down(b, s).ravel()[px]
        out[px] = _surface(
            scene, q_px[px], a_px, b_px, depth.ravel()[px], xc[px % w], yc[px // w],
            plane_d, intr.fx,
        )  # fmt: skip
    px = np.flatnonzero(uniform & (q_px < 0))
    if px.size:
        out[px] = _sky(scene, rot, xc[px % w], yc[px // w])

    mixed = np.flatnonzero(~uniform)
    if mixed.size:
        xs, ys = _pixel_rays(intr, s)
        off = (np.arange(s)[:, None] * (w * s) + np.arange(s)[None, :]).ravel()
        corner = (mixed // w) * (s * s * w) + (mixed % w) * s
        hi = (corner[:, None] + off[None, :]).ravel()  # every sub-sample of every mixed pixel
        q_hi = ids.ravel()[hi]
        rx, ry = xs[hi % (w * s)], ys[hi // (w * s)]
        rad = np.empty((hi.size, 3), np.float32)
        hit = q_hi >= 0
        rad[hit] = _surface(
            scene, q_hi[hit], a.ravel()[hi[hit]], b.ravel()[hi[hit]], z.ravel()[hi[hit]],
            rx[hit], ry[hit], plane_d, intr.fx * s,
        )  # fmt: skip
        rad[~hit] = _sky(scene, rot, rx[~hit], ry[~hit])
        out[mixed] = rad.reshape(mixed.size, s * s, 3).mean(axis=1)
    return out.reshape(h, w, 3), depth


def _surface(
    scene: Scene, q: Array, a: Array, b: Array, z: Array, rx: Array, ry: Array,
    plane_d: Array, focal_px: float,
) -> Array:  # fmt: skip
    # Texture lookup for hits on quads `q` at face coords (a, b) metres, depth z, seen along
    # rays (rx, ry, 1); `focal_px` is the focal length at the sampling resolution.
    ray_len = np.sqrt(rx * rx + ry * ry + 1.0)
    # Pixel footprint on the surface: distance / focal, stretched by 1/sqrt(cos) for the
    # grazing angle (the geometric mean of the two axes, a compromise between blur and
    # shimmer). On the hit plane n . r = d / z, so cos = |d| / (z |r|) needs no normal lookup.
    dist = z * ray_len
    cos = np.abs(plane_d[q]) / dist
    footprint = dist / focal_px / np.sqrt(np.maximum(cos, 0.02))
    sizes = scene.sizes_f32
    return scene.atlas.sample(q, a / sizes[q, 0], b / sizes[q, 1], footprint)


def _sky(scene: Scene, rot: Array, rx: Array, ry: Array) -> Array:
    rays = np.stack([rx, ry, np.ones_like(rx)], -1) @ rot.T
    return sky_radiance(rays / np.linalg.norm(rays, axis=1, keepdims=True), scene.light)


def _box_down(img: Array, s: int) -> Array:
    # Mean over s x s blocks; strided slices beat reshape().mean() by a wide margin.
    if s == 1:
        return img
    out = img[0::s, 0::s].copy()
    for j in range(s):
        for i in range(s):
            if i or j:
                out += img[j::s, i::s]
    out *= 1.0 / (s * s)
    return out


def _plane_offsets(scene: Scene, c2w: Array) -> Array:
    # Signed distance d of each quad's plane in camera space (n . X = d).
    o = (scene.origins - c2w[:3, 3]) @ c2w[:3, :3]
    n = scene.normals @ c2w[:3, :3]
    return np.einsum("ij,ij->i", n, o).astype(np.float32)
