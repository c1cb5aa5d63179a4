"""The camera solve (pycolmap) and its exports for Nuke, USD, nerfstudio and our own JSON.

Modules, each with one job:

- the solve: ``inputs`` (8-bit images and roto masks for COLMAP), ``features``,
  ``matching``, ``keyframes``, ``loops`` (loop-closure candidates), ``mapping`` (keyframe
  map, registration of the other frames, bundle adjustment), ``orient`` and ``scale`` (up
  axis, origin, metres), ``presets`` (quality presets) and ``solve`` (all of it in order);
- the result: ``cameras_json`` (our schema), ``shotcam`` (a solved shot's cameras read
  back from ``sparse/``), ``interpolate`` (frames the solver could not register), ``axes``
  (conventions of the applications), ``exports`` (one module per format);
- ``accuracy`` compares a solve with known cameras (tests, benchmark). The stage's glue
  (the solve of a shot, ``vfx-ingest export camera``) is ``stages/camera_solve.py`` and
  ``stages/camera_reexport.py``: a library never imports a stage.

Nothing here is imported at CLI start-up.
"""
