"""The Modal backend: the app built from the stage registry, and its client.

- ``spec``: the app as data (image, volumes, secrets, one class per GPU type), derived from
  the stages' declarations and the settings; ``gpus``: Modal's GPU names, checked.
- ``app``: the ``modal.App`` built from a spec; ``container``: what its classes run.
- ``seam``: the few Modal calls the client makes (replaced by a double in tests).
- ``client``: one run: cache decisions, uploads, ``.spawn``, progress, cancel, downloads;
  ``shots`` and ``models_volume``: what goes into the two volumes and how.
- ``backend``: the ``modal`` backend; ``deploy``: ``vfx-ingest deploy modal``;
  ``billing``: the billed cost of ephemeral runs.

Nothing here is stage-specific: a new stage is served by the app once it is registered.
"""
