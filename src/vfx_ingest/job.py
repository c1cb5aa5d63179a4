"""The job wire format: what a worker anywhere needs to run stages on a shot.

Versioned pydantic models serialised as JSON. A job says where the shot's inputs are read
from and its outputs written to:

- a **local path** (``shot``): the worker works in that folder (local backend, a shared
  disk);
- **object storage** (``remote``): the worker builds a scratch shot from content-addressed
  objects (the source clip, the upstream passes' files) and hands its outputs back as
  content-addressed objects. It reaches them either as files on a mounted volume (RunPod's
  network volume at ``/runpod-volume``) or through presigned URLs with a short expiry.

A job never carries long-lived credentials, and every path in it is shot-relative and
checked (no absolute paths, no ``..``): a worker never writes outside its shot folder.
Schema 2 added ``remote`` and the result's ``frames``/``chunks``/``outputs``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from .digest import FileDigest
from .errors import BadInput
from .manifest import FrameMap, SourceFile, StageRecord
from .paths import check_relpath

JOB_SCHEMA = 2
# Job ids name folders and objects: letters, digits, '-' and '_' only.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"

Device = Literal["auto", "cpu", "cuda"]


def _relpath(text: str) -> str:
    try:
        return check_relpath(text)
    except BadInput as exc:  # pydantic reports ValueErrors as validation errors
        raise ValueError(exc.what) from None


RelPath = Annotated[str, AfterValidator(_relpath)]


def object_key(prefix: str, sha256: str) -> str:
    """The content-addressed key of a file: ``<prefix><sha256[:2]>/<sha256>`` (the fan-out
    keeps directories small where keys are paths on a volume)."""
    return f"{prefix}{sha256[:2]}/{sha256}"


class StageRequest(BaseModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    frames: tuple[int, int] | None = Field(
        None, description="Chunk: first and last frame (overlap included)."
    )


class ModelRef(BaseModel):
    id: str
    digest: str | None = None


class ObjectRef(BaseModel):
    """One file of the shot held in object storage, under a content-addressed key."""

    relpath: RelPath = Field(description="Where the file goes in the worker's shot.")
    sha256: str
    size: int
    key: RelPath = Field(description="Object key (also its path on a mounted volume).")
    url: str | None = Field(None, description="Presigned GET, when not on a mounted volume.")


class VolumeAccess(BaseModel):
    """The worker reads and writes objects as files under its volume mount
    (``VFX_INGEST_VOLUME_DIR``, default ``/runpod-volume``): RunPod's S3 API serves the
    same network volume, and it has no presigned URLs."""

    kind: Literal["volume"] = "volume"


class PresignedAccess(BaseModel):
    """Outputs go back through a two-message mailbox in the bucket: the worker PUTs the list
    of its output objects to ``outbox_url``; the client answers at ``grant_url`` with one
    presigned PUT per object the bucket does not hold yet (content-addressed, so outputs
    already stored cost nothing). The worker never holds a credential."""

    kind: Literal["presigned"] = "presigned"
    outbox_url: str
    grant_url: str
    expires_at: datetime


class MailboxObject(BaseModel):
    """One object of a job's mailbox, and how the worker may remove it."""

    key: RelPath
    delete_url: str | None = Field(None, description="Presigned DELETE (not on a volume).")


class Liveness(BaseModel):
    """How a worker learns that its client has gone: the client rewrites the heartbeat
    object while it runs (polling, uploading, downloading); a worker that sees it unchanged
    for ``timeout_s`` cancels the job and removes the ``cleanup`` objects (the mailbox)."""

    timeout_s: float = Field(gt=0)
    key: RelPath = Field(description="The heartbeat object (a file on a mounted volume).")
    url: str | None = Field(None, description="Presigned GET of the heartbeat.")
    cleanup: list[MailboxObject] = Field(default_factory=list)


class ShotSeed(BaseModel):
    """What the worker's scratch shot starts from: the frame map and the records of the
    stages whose passes the job reads (so cache keys match the client's)."""

    frames: FrameMap | None = None
    records: dict[str, StageRecord] = Field(default_factory=dict)


class RemoteIO(BaseModel):
    access: Annotated[VolumeAccess | PresignedAccess, Field(discriminator="kind")]
    output_prefix: str = Field(description="Output keys are object_key(output_prefix, sha256).")
    source: ObjectRef | None = None
    inputs: list[ObjectRef] = Field(default_factory=list)
    seed: ShotSeed = Field(default_factory=ShotSeed)
    liveness: Liveness | None = None


class Job(BaseModel):
    schema_version: Literal[2] = JOB_SCHEMA
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=JOB_ID_PATTERN)
    shot: str | None = Field(
        None, description="The shot folder on the worker's filesystem (None: remote I/O)."
    )
    source: SourceFile | None = Field(None, description="The clip, when a stage needs it.")
    stages: list[StageRequest]
    models: list[ModelRef] = Field(default_factory=list)
    device: Device = "auto"
    force: bool = False
    backend: str = "local"
    remote: RemoteIO | None = None


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    stage: str
    done: int
    total: int
    message: str = ""
    unit: Literal["frames", "bytes"] = "frames"


class StageEvent(BaseModel):
    """A stage started, was found cached, finished or failed."""

    type: Literal["stage"] = "stage"
    stage: str
    status: Literal["started", "cached", "done", "failed"]
    record: StageRecord | None = None


Event = ProgressEvent | StageEvent
# Where a job's events go (the CLI's display, a remote job's progress channel).
EventFn = Callable[[Event], None]


class OutputObject(BaseModel):
    """One output file a worker stored: the client downloads ``key`` to ``relpath`` (in
    the shot, or in a chunk's folder) and checks it against ``sha256``."""

    relpath: RelPath
    sha256: str
    size: int
    key: RelPath


class OutputRequest(BaseModel):
    """The worker's message in the presigned mailbox: the objects it wants to store."""

    job_id: str
    objects: list[OutputObject]


class OutputGrant(BaseModel):
    """The client's answer: a presigned PUT per key still missing from the bucket."""

    job_id: str
    urls: dict[str, str]


class ChunkResult(BaseModel):
    """A chunk job's work: files staged for one frame range, never a stage record."""

    stage: str
    frames: tuple[int, int]
    folder: RelPath = Field(description="Shot-relative folder holding the chunk's files.")
    outputs: dict[RelPath, FileDigest] = Field(description="Relative to ``folder``.")
    stats: dict[str, Any] = Field(default_factory=dict)
    device: str = "cpu"
    wall_s: float


class JobResult(BaseModel):
    type: Literal["result"] = "result"
    job_id: str
    status: Literal["ok", "failed"]
    records: list[StageRecord]
    error: str | None = None
    frames: FrameMap | None = Field(None, description="The shot's frame map after the job.")
    chunks: list[ChunkResult] = Field(default_factory=list)
    outputs: list[OutputObject] = Field(
        default_factory=list, description="Remote jobs: the objects holding the outputs."
    )
