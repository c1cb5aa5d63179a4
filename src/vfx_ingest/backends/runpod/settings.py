"""RunPod's settings (the ``runpod`` section) and the options of its commands.

Imported by the configuration and the CLI at start-up: pydantic only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class RunpodSettings(BaseModel):
    api_key: SecretStr | None = Field(None, description="RunPod API key (secret).")
    endpoint_id: str | None = Field(None, description="Serverless endpoint to run jobs on.")
    api_url: str = Field("https://api.runpod.ai/v2", description="Serverless REST base URL.")
    rest_url: str = Field(
        "https://api.runpod.io/v2",
        description="RunPod REST API v2 (templates, endpoints, GPU catalog).",
    )
    image: str | None = Field(None, description="Worker image to build and push, with its tag.")
    gpu_types: list[str] = Field(
        default_factory=lambda: ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A5000"],
        description="GPU types the endpoint may use, in order of preference.",
    )
    network_volume_id: str | None = Field(None, description="Network volume for the endpoint.")
    name: str = Field("vfx-ingest", description="Endpoint name (the template adds -worker).")
    workers_max: int = Field(3, ge=1, description="Most workers the endpoint runs at once.")
    idle_timeout_s: int = Field(5, ge=1, description="Seconds an idle worker stays up.")
    execution_timeout_s: float = Field(
        3600, gt=0, description="RunPod stops a job running longer than this (each job's policy)."
    )
    job_timeout_s: float = Field(
        7200, gt=0, description="The client cancels a job not finished after this (queue too)."
    )
    poll_interval_s: float = Field(1.0, gt=0, description="Seconds between status polls.")
    cancel_grace_s: float = Field(
        30, gt=0, description="A cancelled stage still running this long recycles the worker."
    )
    client_timeout_s: float = Field(
        120, gt=0, description="A worker whose client is silent this long cancels the job."
    )


class ServerlessDeployOptions(BaseModel):
    """``vfx-ingest deploy runpod-serverless``."""

    image: str | None = Field(
        None, description="Image to build and push, registry/name:tag (runpod.image)."
    )
    gpu: list[str] | None = Field(None, description="GPU type, repeatable, in order of preference.")
    models: Literal["bake", "volume"] | None = Field(
        None, description="bake: weights in the image; volume: on the network volume."
    )
    base_image: str | None = Field(None, description="CUDA PyTorch base image.")
    context: Path = Field(
        Path("build/runpod-worker"), description="Where to write the build context."
    )
    context_only: bool = Field(False, description="Only write the context and print the commands.")
    no_docker: bool = Field(False, description="Print the docker commands instead of running them.")
