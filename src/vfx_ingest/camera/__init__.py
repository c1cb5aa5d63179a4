"""The camera solve (pycolmap) and its exports for Nuke, USD, nerfstudio and our own JSON.

Modules, each with one job: ``cameras_json`` (our schema), ``presets`` (quality presets),
``features`` and ``matching`` (pycolmap extraction and pair matching), ``keyframes``,
``loops`` (loop-closure candidates), ``mapping`` (keyframe map, registration of the other
frames, refinement), ``interpolate``, ``orient`` (up axis and scale), ``solve`` (the
whole solve), ``shotcam`` (a solved shot's cameras, read back from ``sparse/``) and
``exports`` (one module per format). Nothing here is imported at CLI start-up.
"""
