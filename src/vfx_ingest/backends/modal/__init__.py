"""The Modal backend: the app built from the stage registry, and its client.

- ``spec``: the app as data (image, volumes, secrets, one class per GPU type), derived from
  the stages' declarations and the settings; ``gpus``: Modal's GPU names, checked.
- ``app``: the ``modal.App`` built from a spec; ``container``: what its classes run.
- ``seam``: the few Modal calls the client makes (replaced by a double in tests).
- ``client``: one run: cache decisions, uploads, ``.spawn``, progress, cancel, downloads;
  ``shots`` and ``models_volume``: what goes into the two volumes and how.
- ``backend``: the ``modal`` backend; ``deploy``: ``vfx-ingest deploy modal``;
  ``billing``: the billed cost of ephemeral runs; ``prices``: what a worker costs;
  ``resources``: what it keeps in the cloud; ``settings``: the ``modal`` section and the
  options of its commands.

Nothing here is stage-specific: a new stage is served by the app once it is registered.
This module is the declaration the registry reads: pydantic only, nothing heavy.
"""

from __future__ import annotations

from ..base import BackendSpec
from .settings import ModalDeployOptions, ModalRunOptions, ModalSettings

_HERE = "vfx_ingest.backends.modal"

SPEC = BackendSpec(
    name="modal",
    summary="Modal serverless GPUs (`vfx-ingest deploy modal` first)",
    runner=f"{_HERE}.backend:ModalBackend",
    settings_key="modal",
    settings=ModalSettings,
    options=ModalRunOptions,
    deploy_options=ModalDeployOptions,
    deploy_help="Build the Modal app from the stages and deploy it; print its app and functions.",
    deploy_epilog=(
        "Examples:\n\n"
        "  modal token new                         # once: Modal's own login\n\n"
        "  vfx-ingest deploy modal\n\n"
        "  vfx-ingest deploy modal --gpu L40S      # GPU stages on L40S, not the cheapest fit\n\n"
        "  vfx-ingest deploy modal --json | jq -r '.classes[].functions[]'\n\n"
        "Builds this package's wheel and an image with it (Python as here, torch from PyPI's "
        "CUDA builds when a stage uses it), the volumes vfx-models and vfx-shots, and one class "
        "per GPU type, and deploys the app (modal.app_name, default vfx-ingest).\n\n"
        "Then: `vfx-ingest models sync --to modal`, and `vfx-ingest run clip.mp4 --backend "
        "modal`.\n\n"
        "Exit codes: 0 deployed, 1 the deploy failed, 2 no token or bad settings."
    ),
    run_examples=[
        "vfx-ingest run clip.mp4 --backend modal --gpu L40S     # after `vfx-ingest deploy modal`",
        "vfx-ingest run clip.mp4 --backend modal --ephemeral    # no deploy: a temporary app",
    ],
    hooks={
        "deploy": f"{_HERE}.deploy:deploy",
        "sync_models": f"{_HERE}.models_volume:target",
        "resources": f"{_HERE}.resources:resources",
        "rate": f"{_HERE}.prices:rate",
    },
)
