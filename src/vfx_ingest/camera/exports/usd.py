"""``camera.usda``: a UsdGeom.Camera with the solve, written with usd-core.

- Stage: Y up, ``metersPerUnit`` 0.01 (centimetres, USD's default unit, so that lens and
  film-back values, which USD measures in tenths of a scene unit, are millimetres);
  ``timeCodesPerSecond`` and ``framesPerSecond`` are the clip's rate; start and end time
  codes are the first and last frame numbers.
- ``/World/camera``: one time-sampled ``xformOp:transform`` (camera-to-world, OpenGL
  camera axes, translation in centimetres: the solve's metres, or solver units, x 100);
  ``focalLength`` time-sampled in mm; ``horizontalAperture`` / ``verticalAperture`` the
  film back in mm; the principal point as ``horizontalApertureOffset`` /
  ``verticalApertureOffset`` in mm; ``clippingRange`` in centimetres.
- Custom attributes keep what USD's camera has no place for: ``vfxingest:solved``
  (time-sampled: false on interpolated frames), ``vfxingest:cameraModel`` and
  ``vfxingest:distortion`` (COLMAP's model and parameters).
"""

from __future__ import annotations

from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from ..axes import opengl_c2w
from ..shotcam import ShotCamera

CENTIMETRES = 0.01
UNITS_TO_CM = 100.0
CLIPPING_CM = (1.0, 1.0e7)


def aperture_offsets(camera: ShotCamera) -> tuple[float, float]:
    """Principal point as film-back offsets (mm): positive x moves the window right."""
    return (
        (camera.width / 2.0 - camera.cx) / camera.width * camera.sensor_width_mm,
        (camera.cy - camera.height / 2.0) / camera.height * camera.sensor_height_mm,
    )


def render(camera: ShotCamera) -> dict[str, bytes]:
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, CENTIMETRES)
    fps = float(camera.fps)
    stage.SetTimeCodesPerSecond(fps)
    stage.SetFramesPerSecond(fps)
    stage.SetStartTimeCode(camera.frames[0])
    stage.SetEndTimeCode(camera.frames[-1])
    stage.GetRootLayer().documentation = (
        f"vfx-ingest camera solve ({camera.model}, {camera.stats.units}; "
        f"up: {camera.stats.up}; scale: {camera.stats.scale})"
    )
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    cam = UsdGeom.Camera.Define(stage, "/World/camera")
    transform = cam.AddTransformOp()
    focal = cam.CreateFocalLengthAttr()
    solved = cam.GetPrim().CreateAttribute("vfxingest:solved", Sdf.ValueTypeNames.Bool)
    gl = opengl_c2w(camera.c2w)
    gl[:, :3, 3] *= UNITS_TO_CM
    for i, frame in enumerate(camera.frames):
        # Gf matrices act on row vectors: the transpose of our column-vector matrix.
        transform.Set(Gf.Matrix4d(gl[i].T.tolist()), Usd.TimeCode(frame))
        focal.Set(camera.focal_mm, Usd.TimeCode(frame))
        solved.Set(bool(camera.solved[i]), Usd.TimeCode(frame))
    cam.CreateHorizontalApertureAttr(camera.sensor_width_mm)
    cam.CreateVerticalApertureAttr(camera.sensor_height_mm)
    h_offset, v_offset = aperture_offsets(camera)
    cam.CreateHorizontalApertureOffsetAttr(h_offset)
    cam.CreateVerticalApertureOffsetAttr(v_offset)
    cam.CreateClippingRangeAttr(Gf.Vec2f(*CLIPPING_CM))
    cam.CreateProjectionAttr(UsdGeom.Tokens.perspective)
    prim = cam.GetPrim()
    prim.CreateAttribute("vfxingest:cameraModel", Sdf.ValueTypeNames.Token).Set(camera.model)
    prim.CreateAttribute("vfxingest:distortion", Sdf.ValueTypeNames.DoubleArray).Set(
        Vt.DoubleArray(camera.distortion)
    )
    return {"camera.usda": stage.GetRootLayer().ExportToString().encode()}
