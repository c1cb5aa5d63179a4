"""Passes as third-party readers see them (issue 17, items 19 and 20).

- PNG plates: OpenImageIO (the image library Blender and many tools build on) reads the
  ``cICP`` chunk and so knows the plate is Rec.709-encoded, not sRGB.
- Depth EXRs: OpenImageIO reads the depth values; a reader following Blender's rules for a
  single-layer EXR (R/G/B, else X/Y/Z, else luminance Y, else nothing: black) sees them
  too; the ``Z`` channel compositors read as depth keeps them.
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest


def test_png_plates_say_they_are_rec709_not_srgb(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=2), "--shot", shot, "--stages", "ingest").exit_code == 0
    plate = sorted((shot / "plate").glob("plate.*.png"))[0]
    image = oiio.ImageInput.open(str(plate))
    spec = image.spec()
    image.close()
    # The synthetic clip is tagged BT.709 primaries and transfer (H.273 code 1).
    assert tuple(spec.getattribute("CICP")) == (1, 1, 0, 1)
    assert "srgb" not in spec.get_string_attribute("oiio:ColorSpace").lower()


@pytest.mark.parametrize(
    ("primaries", "transfer", "expected"),
    [
        ("bt709", "bt709", (1, 1, 0, 1)),
        ("bt709", "iec61966-2-1", (1, 13, 0, 1)),
        ("bt2020", "arib-std-b67", (9, 18, 0, 1)),
        (None, None, (1, 1, 0, 1)),  # untagged: Rec.709, as for EXR plates
    ],
)
def test_cicp_follows_the_source_tags(primaries, transfer, expected, tmp_path):
    from vfx_ingest.io.color import cicp
    from vfx_ingest.io.images import decode_png, encode_png

    rgb = np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3) * 300
    path = tmp_path / "p.png"
    path.write_bytes(encode_png(rgb, cicp=cicp(primaries, transfer)))
    assert np.array_equal(decode_png(path.read_bytes()), rgb)  # still a valid PNG
    image = oiio.ImageInput.open(str(path))
    assert tuple(image.spec().getattribute("CICP")) == expected
    assert np.array_equal(image.read_image(oiio.UINT16), rgb)
    image.close()


def blender_single_layer(channels: list[str]) -> list[str] | None:
    """The channels Blender's EXR loader (imb_load_openexr, single-layer file) puts into
    R, G, B; None when it reads none of them (the image shows black)."""
    names = set(channels)
    if any("." in c for c in channels):
        return None  # a multilayer file: the loader hands it to the render-layer path
    rgb = [c for c in ("R", "G", "B") if c in names]
    if rgb:
        return rgb
    if {"X", "Y", "Z"} <= names:
        return ["X", "Y", "Z"]
    if "Y" in names:
        return ["Y"]
    return None


def test_depth_exr_opens_with_its_values_in_blender_and_oiio_and_keeps_z(tmp_path):
    from vfx_ingest.depth.exr import read_depth, write_depth

    depth = np.linspace(0.5, 40.0, 8 * 12, dtype=np.float32).reshape(8, 12)
    path = tmp_path / "depth.1001.exr"
    write_depth(path, depth, {"vfxingest/values": "metric_depth_m"})

    image = oiio.ImageInput.open(str(path))
    spec = image.spec()
    names = list(spec.channelnames)
    pixels = image.read_image(oiio.FLOAT)
    image.close()
    assert "Z" in names and spec.z_channel == names.index("Z")  # depth for compositors
    np.testing.assert_array_equal(pixels[..., names.index("Z")], depth)

    shown = blender_single_layer(names)
    assert shown is not None, f"Blender shows black for channels {names}"
    for channel in shown:
        np.testing.assert_array_equal(pixels[..., names.index(channel)], depth)
    values, attributes = read_depth(path)
    np.testing.assert_array_equal(values, depth)
    assert attributes == {"vfxingest/values": "metric_depth_m"}
