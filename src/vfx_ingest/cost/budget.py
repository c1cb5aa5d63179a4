"""``--max-cost``: refuse a run whose estimate is over the limit, before any work.

Only the stages that will actually run count: a stage whose cache key matches and whose
outputs verify costs nothing (the same decision the worker makes). The local backend costs
nothing. For a remote backend the estimate takes the cheapest GPU offer that fits the
stages, a lower bound; the running :class:`~vfx_ingest.cost.meter.CostMeter` then holds the
run to the limit at the price actually paid.
"""

from __future__ import annotations

from pathlib import Path

from .. import cache
from ..config import Settings
from ..errors import BadInput
from ..job import Job, StageRequest
from ..shot import ShotFolder
from ..stages import get_stage
from .estimate import ClipPlan, Estimate, Estimator


def pending_stages(job: Job) -> list[StageRequest]:
    """The job's stages that will run: from the first one whose cache does not hold."""
    shot = ShotFolder(Path(job.shot))
    manifest = shot.load_manifest()
    if job.force or manifest is None:
        return list(job.stages)
    if job.source is not None:
        manifest = manifest.model_copy(update={"source": job.source})
    for index, request in enumerate(job.stages):
        spec = get_stage(request.name)
        params = spec.params.model_validate(request.params)
        try:
            key = cache.stage_key(spec, params, manifest, job.models, shot.root).key
        except BadInput:  # an input this run makes first
            return job.stages[index:]
        if not cache.is_fresh(manifest.done(spec.name), key, shot.root):
            # Later stages read what this one rewrites: they run too.
            return job.stages[index:]
    return []


def job_plan(job: Job, stages: list[StageRequest]) -> ClipPlan:
    """Frames and plate size from the job's ingest options, or from the shot's plate."""
    from ..stages.ingest import IngestParams, frame_plan

    ingest = next((s for s in job.stages if s.name == "ingest"), None)
    if job.source is not None and ingest is not None:
        frames, width, height = frame_plan(
            IngestParams.model_validate(ingest.params), job.source.probe
        )
        source_bytes = job.source.digest.size
    else:
        manifest = ShotFolder(Path(job.shot)).load_manifest()
        if manifest is None or manifest.frames is None:
            raise BadInput("the shot has no plate to estimate from", where=job.shot)
        frames, width, height = manifest.frames.count, manifest.frames.width, manifest.frames.height
        source_bytes = 0
    return ClipPlan(
        clip=job.source.path if job.source else job.shot,
        source_bytes=source_bytes,
        frames=frames,
        width=width,
        height=height,
        stages=[s.name for s in stages],
    )


def check_budget(job: Job, max_cost: float, settings: Settings) -> Estimate | None:
    """Raise BadInput when the run's estimate exceeds ``max_cost``; return the estimate
    used (None when nothing billable runs)."""
    stages = pending_stages(job)
    if not stages or job.backend == "local":
        return None
    specs = [get_stage(s.name) for s in stages]
    report = Estimator(settings).report(
        job_plan(job, stages), specs, backends=[job.backend], gpus_for_cpu_stages=True
    )
    if not report.rows:
        reasons = "; ".join(sorted({s.reason for s in report.skipped})) or "no GPU offer fits"
        raise BadInput(
            f"cannot estimate the cost on {job.backend} ({reasons})",
            fix=f"Run without --max-cost, or see `vfx-ingest cost CLIP --backend {job.backend}`",
        )
    best = min(report.rows, key=lambda r: r.usd)
    if best.usd > max_cost:
        raise BadInput(
            f"the estimate is ${best.usd:.2f} on {job.backend} ({best.gpu}, the cheapest GPU "
            f"that fits), over --max-cost ${max_cost:.2f}",
            fix="Raise --max-cost, or compare backends and GPUs with `vfx-ingest cost CLIP`",
        )
    return best
