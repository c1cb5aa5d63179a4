"""How long a stage takes: seeded figures per stage, and the time model they share with
the fits of your own runs (history.py).

A stage's wall time is ``setup_s + frames * (s_per_frame + s_per_mp * work_mp)``, where
``work_mp`` is the megapixels the stage processes per frame (the plate, or the size its
network resizes to). Seeds for GPU stages are figures published for one GPU; other GPUs are
scaled by their dense FP16 tensor throughput (``fp16_tflops`` in the catalog), a documented
relation that tends to flatter the faster GPU, which is why measured runs replace it.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .catalog import Catalog, GpuSpec, Sourced

Work = Literal["plate", "short-side", "square"]


def work_megapixels(work: Work, work_px: int | None, width: int, height: int) -> float:
    """Megapixels a stage processes per frame of a ``width`` x ``height`` plate."""
    if work == "plate" or not work_px:
        return width * height / 1e6
    if work == "square":
        return work_px * work_px / 1e6
    scale = work_px / min(width, height)
    return width * scale * height * scale / 1e6


class StageSeed(Sourced):
    stage: str
    device: Literal["cpu", "gpu"]
    reference_gpu: str | None = None
    setup_s: float = Field(0.0, ge=0)
    s_per_frame: float = Field(0.0, ge=0)
    s_per_mp: float = Field(0.0, ge=0)
    work: Work = "plate"
    work_px: int | None = Field(None, gt=0)
    output_bytes_per_mp: float = Field(ge=0)
    basis: Literal["measured", "published", "derived"]

    def work_mp(self, width: int, height: int) -> float:
        return work_megapixels(self.work, self.work_px, width, height)


class ColdStart(Sourced):
    backend: str
    seconds: float = Field(ge=0)
    basis: Literal["measured", "published", "derived"]


class Throughput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    stages: list[StageSeed] = Field(alias="stage")
    cold_starts: list[ColdStart] = Field(alias="cold_start")

    def seed(self, stage: str) -> StageSeed | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def cold_start(self, backend: str) -> ColdStart | None:
        return next((c for c in self.cold_starts if c.backend == backend), None)


@functools.cache
def load_throughput() -> Throughput:
    import tomllib

    text = resources.files(__package__).joinpath("throughput.toml").read_text()
    return Throughput.model_validate(tomllib.loads(text))


class TimeModel(BaseModel):
    """One stage's time on one device class: seeded, measured, or scaled from measured."""

    model_config = ConfigDict(frozen=True)

    setup_s: float = 0.0
    s_per_frame: float = 0.0
    s_per_mp: float = 0.0
    basis: Literal["seeded", "measured", "scaled"]
    detail: str = Field(description="Where the figures come from, for the output.")
    runs: int = Field(0, description="Recorded runs behind a measured model.")

    def seconds(self, frames: int, work_mp: float) -> float:
        return self.setup_s + frames * (self.s_per_frame + self.s_per_mp * work_mp)

    def scaled(self, factor: float, basis: str, detail: str) -> TimeModel:
        """Per-frame terms times ``factor`` (another GPU); setup is kept."""
        return self.model_copy(
            update={
                "s_per_frame": self.s_per_frame * factor,
                "s_per_mp": self.s_per_mp * factor,
                "basis": basis,
                "detail": detail,
            }
        )


def tflops_ratio(catalog: Catalog, from_gpu: str, to: GpuSpec) -> float | None:
    """How much longer work takes on ``to`` than on ``from_gpu`` (None without figures)."""
    source = catalog.gpu(from_gpu)
    if source.fp16_tflops is None or to.fp16_tflops is None:
        return None
    return source.fp16_tflops / to.fp16_tflops


def seeded_model(seed: StageSeed, gpu: GpuSpec | None, catalog: Catalog) -> TimeModel | None:
    """The seed's model on ``gpu`` (None: the CPU), or None when the seed cannot say."""
    model = TimeModel(
        setup_s=seed.setup_s,
        s_per_frame=seed.s_per_frame,
        s_per_mp=seed.s_per_mp,
        basis="seeded",
        detail=f"{seed.basis}: {seed.source}",
    )
    if seed.device == "cpu":
        return model
    if gpu is None or seed.reference_gpu is None:
        return None
    ratio = tflops_ratio(catalog, seed.reference_gpu, gpu)
    if ratio is None:
        return None
    if gpu.id == seed.reference_gpu:
        return model
    return model.scaled(
        ratio,
        "seeded",
        f"{seed.basis} on {seed.reference_gpu}, scaled by FP16 TFLOPS: {seed.source}",
    )
