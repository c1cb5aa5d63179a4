"""Video depth: Video Depth Anything run over long clips, chunks stitched, float EXR output.

- ``models``: which checkpoints exist (file name, encoder, what the values are, licence)
  and loading one into our network;
- ``sizing``: the network's input size for a plate;
- ``windows``: the long-clip scheme (32-frame windows, keyframes, scale/shift alignment,
  cross-fade), as a plan plus a streaming aligner;
- ``align``: least-squares scale/shift and cross-fade weights, shared by windows and chunks;
- ``inference``: runs the network over a clip, streaming frames in and depth out;
- ``plates``: reads plate frames (PNG 8/16-bit, EXR) as display-referred RGB;
- ``exr``: depth EXRs with their header attributes, and 16-bit PNG previews;
- ``resume``: checkpoints of the aligner, so an interrupted run goes on where it stopped;
- ``stitch``: merges frame-range chunks computed independently.

The stage itself (``stages/depth.py``) only wires these together.
"""
