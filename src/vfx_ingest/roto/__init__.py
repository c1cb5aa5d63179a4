"""Video roto: SAM 2.1 and SAM 3 (transformers) over plates of any length.

- ``prompts``: the prompts file and command-line forms, checked against the plate;
- ``models``: the checkpoints and what each can do.

The stage itself (``stages/roto.py``) only wires these together. This package never
imports stages, backends, config or the CLI.
"""
