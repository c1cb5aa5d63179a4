"""RunPod: the serverless backend (``serverless``: the client side of a run), its worker
(``handler``, and ``serve``: a local compatible endpoint for development), the endpoint and
REST API clients (``api``), deployment (``deploy``: build context, template, endpoint) and
what the CLI's commands call (``commands``), prices (``prices``), settings (``settings``);
and the pod backend (``pod/``: on-demand pods with a watchdog inside, ``pods list|gc``,
models on a network volume).

This module is the declaration the registry reads: pydantic only, nothing heavy.
"""

from __future__ import annotations

from ..base import BackendSpec
from .settings import PodOptions, RunpodSettings, ServerlessDeployOptions

_HERE = "vfx_ingest.backends.runpod"

SERVERLESS = BackendSpec(
    name="runpod-serverless",
    summary="RunPod serverless GPU workers (`vfx-ingest deploy runpod-serverless` first)",
    runner=f"{_HERE}.serverless:RunpodServerlessBackend",
    settings_key="runpod",
    settings=RunpodSettings,
    # RunPod's own SDK and CLI read RUNPOD_API_KEY; so do we.
    env_aliases={"RUNPOD_API_KEY": "api_key"},
    deploy_options=ServerlessDeployOptions,
    deploy_help="Build the worker image and create or update the RunPod serverless endpoint.",
    deploy_epilog="""
Examples:

  vfx-ingest deploy runpod-serverless --image ghcr.io/me/worker:0.1.0

  vfx-ingest deploy runpod-serverless --image me/worker:1 --gpu "NVIDIA L40S"

  vfx-ingest deploy runpod-serverless --image me/worker:1 --context-only

Needs RUNPOD_API_KEY (never in a project file) unless --context-only.

Writes the image's build context, builds and pushes the image when docker is
installed (else prints the commands), creates or updates the template and the
endpoint, and saves the endpoint id in the user config.

Models: bake copies what models.lock pins into the image; volume reads them
from the endpoint's network volume (runpod.network_volume_id).
""",
    run_examples=[
        "vfx-ingest run clip.mp4 --stages depth --backend runpod-serverless --max-cost 2.50",
        "vfx-ingest run clip.mp4 --backend runpod-serverless --max-workers 8",
    ],
    hooks={
        "deploy": f"{_HERE}.commands:deploy",
        "cleanup": f"{_HERE}.commands:cleanup",
        "offers": f"{_HERE}.prices:serverless_offers",
        "refresh_prices": f"{_HERE}.prices:refresh_prices",
        "serve": f"{_HERE}.serve:serve",
    },
)

POD = BackendSpec(
    name="runpod-pod",
    summary="a RunPod on-demand pod made for this run, terminated at its end",
    aliases=["runpod"],  # `models sync --to runpod`: the network volume pods and endpoints read
    runner=f"{_HERE}.pod.backend:RunpodPodBackend",
    settings_key="runpod",
    settings=RunpodSettings,
    env_aliases={"RUNPOD_API_KEY": "api_key"},
    options=PodOptions,
    run_examples=[
        "vfx-ingest run clip.mp4 --backend runpod-pod --gpu 'NVIDIA GeForce RTX 4090'",
        "vfx-ingest run clip.mp4 --backend runpod-pod --keep-pod --pod-deadline 2",
    ],
    hooks={
        "sync_models": f"{_HERE}.pod.volume:sync_models",
        "resources": f"{_HERE}.pod.commands:resources",
        "cleanup": f"{_HERE}.pod.commands:cleanup",
        "pod": f"{_HERE}.pod.commands:worker_pod",
    },
)
