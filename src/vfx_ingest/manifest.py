"""The shot manifest (``shot.json``): what the source is, which frames exist, what ran.

Versioned with ``schema_version``; readers refuse a newer major version instead of
guessing. Times are UTC ISO-8601; frame rates are exact rationals written as ``"24000/1001"``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

from .digest import FileDigest

SCHEMA_VERSION = 1


def _to_fraction(value: Any) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int | str):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value).limit_denominator(1001)
    return Fraction(value.numerator, value.denominator)


Rational = Annotated[
    Fraction,
    BeforeValidator(_to_fraction),
    PlainSerializer(lambda f: f"{f.numerator}/{f.denominator}", return_type=str),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class SourceProbe(BaseModel):
    """What the source clip is, as FFmpeg (through PyAV) reads it."""

    container: str
    codec: str
    profile: str | None = None
    width: int = Field(description="Coded width, before rotation.")
    height: int
    display_width: int = Field(description="Width after applying the rotation metadata.")
    display_height: int
    pix_fmt: str
    bit_depth: int
    frame_rate: Rational = Field(description="Average frame rate.")
    variable_frame_rate: bool = False
    frame_count: int
    duration: float = Field(description="Seconds.")
    rotation: int = Field(0, description="Display rotation in degrees, counter-clockwise.")
    timecode: str | None = Field(None, description="Start timecode, when the clip has one.")
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_matrix: str | None = None
    color_range: str | None = None
    has_audio: bool = False


class SourceFile(BaseModel):
    path: str
    digest: FileDigest
    probe: SourceProbe


class FrameInfo(BaseModel):
    frame: int
    source_index: int = Field(description="0-based index in the source's presentation order.")
    time: float = Field(description="Presentation time in seconds from the clip's start.")
    timecode: str | None = None


class FrameMap(BaseModel):
    """Frame numbers of the plate and where each came from in the source."""

    first: int
    last: int
    count: int
    frame_set: str = Field(description="fileseq frame range, e.g. 1001-1096.")
    width: int
    height: int
    fps: Rational
    timecode_from: Literal["source", "elapsed"] = Field(
        "elapsed", description="source: the clip's own timecode; elapsed: from 00:00:00:00."
    )
    damaged: str | None = Field(
        None,
        description="Frames decoded from a damaged clip (kept with --allow-damaged): the "
        "decoder concealed errors in them or in a frame they are predicted from.",
    )
    frames: list[FrameInfo]

    def numbers(self) -> list[int]:
        return [f.frame for f in self.frames]


# "interrupted": the run was stopped (Ctrl-C, SIGTERM, a cancel, a --max-cost stop) and its
# staging kept for the next run; `status` also shows it for a `running` record whose
# process is gone (killed, or its machine stopped). Readers treat it as "failed" does.
Status = Literal["running", "done", "failed", "interrupted"]


class PriceUsed(BaseModel):
    """The price a stage record's cost was computed from (cost = billed_s x rate)."""

    id: str = Field(description="Catalog price id, or 'local' for this machine.")
    usd_per_second: float
    billed_s: float
    as_of: date | None = Field(None, description="When the price held.")
    origin: str = Field(description="bundled, live:<provider>, or local.")


class StageRecord(BaseModel):
    """One stage's last run in this shot: enough to skip it, audit it and price it."""

    stage: str
    version: str
    status: Status
    params: dict[str, Any]
    cache_key: str
    inputs: dict[str, str] = Field(description="Input name -> digest.")
    models: dict[str, str] = Field(default_factory=dict, description="Model id -> digest.")
    outputs: dict[str, FileDigest] = Field(default_factory=dict, description="Shot-relative.")
    output_digest: str | None = None
    frames: str | None = Field(None, description="Frame range covered.")
    backend: str = "local"
    device: str = "cpu"
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    wall_s: float | None = None
    cost_usd: float | None = None
    price: PriceUsed | None = Field(None, description="What cost_usd was computed from.")
    stats: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    pid: int | None = Field(None, description="The process that ran it (with host).")
    host: str | None = None
    last_good: StageRecord | None = Field(
        None,
        description="While this run is running, or after it failed or was interrupted: the "
        "last run that completed, whose outputs are still in place (a failed or interrupted "
        "rerun never replaces them).",
    )

    def good(self) -> StageRecord | None:
        """The completed run whose outputs stand: this one, or the one a failed rerun kept."""
        return self if self.status == "done" else self.last_good


class Manifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    tool_version: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    source: SourceFile | None = None
    frames: FrameMap | None = None
    stages: dict[str, StageRecord] = Field(default_factory=dict)

    def done(self, stage: str) -> StageRecord | None:
        """The stage's completed run whose outputs stand, if any."""
        record = self.stages.get(stage)
        return record.good() if record is not None else None
