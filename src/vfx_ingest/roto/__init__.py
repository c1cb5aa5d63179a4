"""Video roto: SAM 2.1 and SAM 3 (transformers) over plates of any length.

- ``prompts``: the prompts file and command-line forms, checked against the plate;
- ``models``: the checkpoints, what each can do, and loading one;
- ``pixels``: network inputs, prompt coordinates, mask upsampling (no torchvision);
- ``tracker``: click, box and mask prompts tracked in a pruned, constant-size session;
- ``text``: SAM 3 text prompts, every instance tracked with its own id;
- ``cleanup``: grow/shrink, hole filling, minimum area;
- ``output``: the roto pass on disk (masks, soft masks, objects.json, prompts.json);
- ``stitch``: frame-range chunks joined with stable instance ids;
- ``run``: one run, wiring the above.

The stage itself (``stages/roto.py``) only wires this to the shot folder. This package
never imports stages, backends, config or the CLI.
"""
