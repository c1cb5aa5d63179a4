"""RunPod's settings (the ``runpod`` section) and the options of its commands.

Imported by the configuration and the CLI at start-up: pydantic only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from ...sections import Section


class RunpodSettings(Section):
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
    # The pod backend (runpod-pod).
    gpu: str | None = Field(None, description="Pod GPU type to try first, before gpu_types.")
    keep_pod: bool = Field(False, description="Leave the pod running after the run (idle rule).")
    pod_deadline: float = Field(
        6.0, gt=0, description="Hours after creation when a pod terminates itself, whatever."
    )
    pod_url: str = Field(
        "https://{pod_id}-{port}.proxy.runpod.net",
        description="Where a pod's worker is reached; {pod_id} and {port} are filled in.",
    )
    pod_port: int = Field(8000, ge=1, le=65535, description="The pod worker's HTTP port.")
    pod_cloud: Literal["SECURE", "COMMUNITY"] = Field("SECURE", description="Pod cloud.")
    pod_disk_gb: int = Field(40, ge=1, description="Pod container disk (GB).")
    pod_start_timeout_s: float = Field(
        600, gt=0, description="A pod not serving this long after creation: next GPU type."
    )
    pod_heartbeat_timeout_s: float = Field(
        120, gt=0, description="A pod whose client is silent this long terminates itself."
    )
    pod_idle_timeout_s: float = Field(
        300, gt=0, description="A pod without a job this long terminates itself."
    )
    data_center: str = Field(
        "EU-RO-1", description="Data centre of the network volume (and of pods using it)."
    )
    volume_s3_url: str = Field(
        "https://s3api-{data_center}.runpod.io",
        description="The network volume's S3-compatible API ({data_center}: lower case); "
        "its keys are s3.access_key_id and s3.secret_access_key.",
    )
    volume_size_gb: int = Field(50, ge=10, le=4096, description="Size of a new network volume.")


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


class PodOptions(BaseModel):
    """``vfx-ingest run --backend runpod-pod``: each field sets the runpod setting."""

    gpu: str | None = Field(
        None,
        description="GPU for GPU stages, e.g. L40S or H100:2; for a pod, the RunPod GPU id "
        "tried before runpod.gpu_types.",
    )
    keep_pod: bool | None = Field(
        None, description="Leave the pod running after the run; it ends when idle."
    )
    pod_deadline: float | None = Field(
        None, description="Hours after which the pod terminates itself (default 6)."
    )
