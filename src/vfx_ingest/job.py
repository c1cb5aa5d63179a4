"""The job wire format: what a worker anywhere needs to run stages on a shot.

Versioned pydantic models serialised as JSON. A job never carries long-lived credentials:
remote inputs and outputs are presigned URLs (added by the remote backends), local ones
are paths inside the worker's shot folder.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from .manifest import SourceFile, StageRecord

JOB_SCHEMA = 1

Device = Literal["auto", "cpu", "cuda"]


class StageRequest(BaseModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    frames: tuple[int, int] | None = Field(None, description="Chunk: first and last frame.")


class ModelRef(BaseModel):
    id: str
    digest: str | None = None


class Job(BaseModel):
    schema_version: Literal[1] = JOB_SCHEMA
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    shot: str = Field(description="The shot folder on the worker's filesystem.")
    source: SourceFile | None = Field(None, description="The clip, when a stage needs it.")
    stages: list[StageRequest]
    models: list[ModelRef] = Field(default_factory=list)
    device: Device = "auto"
    force: bool = False
    backend: str = "local"


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    stage: str
    done: int
    total: int
    message: str = ""


class StageEvent(BaseModel):
    """A stage started, was found cached, finished or failed."""

    type: Literal["stage"] = "stage"
    stage: str
    status: Literal["started", "cached", "done", "failed"]
    record: StageRecord | None = None


Event = ProgressEvent | StageEvent


class JobResult(BaseModel):
    type: Literal["result"] = "result"
    job_id: str
    status: Literal["ok", "failed"]
    records: list[StageRecord]
    error: str | None = None
