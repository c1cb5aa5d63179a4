"""Mattes: soft, straight alpha for each roto object, as half-float EXR.

- ``models``: which matting weights the stage runs (VitMatte, Robust Video Matting) and
  loading them;
- ``trimap``: the trimap of a binary mask (known inside, known outside, an unknown band);
- ``vitmatte``: VitMatte on tiles around the unknown band only, our own pre/post-processing;
- ``guided``: the guided filter that carries an alpha computed at a reduced size up to the
  plate's resolution, following the plate's edges;
- ``temporal``: a filter over a few neighbouring frames that stops the band from boiling;
- ``refine``: the per-object sequence (trimap, network, temporal filter, upsampling),
  streaming frames in and mattes out;
- ``rvm``: Robust Video Matting (TorchScript), people without a mask, recurrent state;
- ``frames``: matte EXRs with their header, premultiplied foregrounds, 16-bit PNGs.

The stage itself (``stages/matte.py``) only wires these together.
"""
