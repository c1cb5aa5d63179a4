"""Estimate a run before it starts: per stage, per backend, per GPU, for this clip.

For every backend and GPU offer that fits the stages' device needs, an estimate adds:

- each stage's time from the best time model available (your measured runs on that GPU
  class, else measured on another GPU scaled by FP16 TFLOPS, else the seeded figure);
- the backend's cold start (your measured median, else the seeded figure);
- moving the clip up and the passes down over your link (``cost.uplink_mbps`` /
  ``cost.downlink_mbps``), and what the object storage charges for it;
- the billed time (cold start + stages + idle, rounded up to the billing increment) at the
  rate the backend bills for the offer (its ``rate`` hook adds what else it bills, such as
  CPU and memory, and the multipliers its settings turn on).

Which offers a backend runs per clip is its ``offers`` hook's answer (default: every GPU
offer the catalog lists for it). Stages that need no GPU are priced on CPU offers only.
Offers with no time model for a stage, or that cannot run the stages, are listed as
skipped, with the reason. Only offers of registered backends are runnable; only runnable
ones are marked cheapest or fastest.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..config import Settings
from ..stages.base import StageSpec
from .catalog import BackendPrices, Catalog, GpuSpec, Price, gpu_key, provenance
from .history import History, cold_start, fit
from .throughput import Throughput, TimeModel, seeded_model, tflops_ratio, work_megapixels

HOURS_PER_MONTH = 730.0  # 365 days x 24 h / 12, the month cloud providers bill by
GB = 1e9


class ClipPlan(BaseModel):
    """What the run will process: the facts an estimate needs about the clip."""

    clip: str
    source_bytes: int
    frames: int
    width: int
    height: int
    stages: list[str]


class StageEstimate(BaseModel):
    stage: str
    seconds: float
    basis: str = Field(description="seeded, measured or scaled (from a measured GPU).")
    detail: str
    output_bytes: float


class Estimate(BaseModel):
    backend: str
    gpu: str = Field(description="Catalog GPU class(es), or cpu.")
    offer: str
    backend_gpu: str | None = None
    price_id: str | None = None
    usd_per_second: float
    installed: bool = Field(
        description="False: this version can estimate it, not run it (never cheapest or fastest)."
    )
    stages: list[StageEstimate]
    cold_start_s: float
    cold_start_basis: str
    transfer_s: float
    transfer_bytes: float
    billed_s: float
    wall_s: float
    compute_usd: float
    transfer_usd: float
    usd: float
    price_as_of: date | None = None
    price_origin: str | None = None
    cheapest: bool = False
    fastest: bool = False
    notes: list[str] = Field(default_factory=list)


UNTIMED_FIX = "run it once there to measure, or see README 'Cost' for the seeded stages"


class Skipped(BaseModel):
    backend: str
    gpu: str
    offer: str
    reason: str
    untimed: str | None = Field(
        None, description="The stage with no time figure on this offer, when that is why."
    )
    where: str = Field("", description="The GPU, or 'the CPU', the stage is untimed on.")


class EstimateReport(BaseModel):
    plan: ClipPlan
    rows: list[Estimate]
    skipped: list[Skipped]
    prices: list[BackendPrices]


class _Device(BaseModel):
    """One way to run: a backend, the GPU classes an offer may land on, and its price."""

    backend: str
    gpus: list[GpuSpec] = Field(default_factory=list, description="Empty: the CPU.")
    offer: str
    price: Price | None = None

    @property
    def label(self) -> str:
        return "/".join(g.id for g in self.gpus) or "cpu"


class Estimator:
    """Everything an estimate reads, loaded once: prices, seeds, your history."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        throughput: Throughput | None = None,
        history: History | None = None,
    ) -> None:
        from .catalog import load_catalog
        from .throughput import load_throughput

        self.settings = settings
        self.catalog = catalog or load_catalog()
        self.throughput = throughput or load_throughput()
        self.history = history or History(settings.cost.history_db)
        self._runs = self.history.runs()

    # -- time models -------------------------------------------------------------------

    def work_mp(self, stage: str, width: int, height: int) -> float:
        seed = self.throughput.seed(stage)
        if seed is None:
            return work_megapixels("plate", None, width, height)
        return seed.work_mp(width, height)

    def model(self, stage: str, backend: str, gpu: GpuSpec | None) -> TimeModel | None:
        """The best time model for ``stage`` on ``gpu`` (None: the CPU) of ``backend``."""
        seed = self.throughput.seed(stage)
        seeded = seeded_model(seed, gpu, self.catalog) if seed else None
        if seed is not None and seed.device == "cpu":
            gpu = None  # a CPU stage runs on the worker's CPU whatever its GPU
        key = f"gpu:{gpu.id}" if gpu else f"cpu@{backend}"
        mine = [r for r in self._runs if r.stage == stage and r.device_key == key]
        if mine:
            return fit(mine, lambda w, h: self.work_mp(stage, w, h), seeded)
        if gpu is not None:
            scaled = self._scaled_from_measured(stage, gpu, seeded)
            if scaled is not None:
                return scaled
        return seeded

    def _scaled_from_measured(
        self, stage: str, gpu: GpuSpec, seeded: TimeModel | None
    ) -> TimeModel | None:
        """A fit measured on another GPU class, scaled to ``gpu`` by FP16 TFLOPS."""
        for run in self._runs:  # newest first: the GPU measured most recently
            if run.stage != stage or not run.device_key.startswith("gpu:"):
                continue
            other = run.device_key.removeprefix("gpu:")
            try:
                ratio = tflops_ratio(self.catalog, other, gpu)
            except KeyError:
                continue
            if ratio is None:
                continue
            runs = [r for r in self._runs if r.stage == stage and r.device_key == run.device_key]
            measured = fit(runs, lambda w, h: self.work_mp(stage, w, h), seeded)
            detail = f"measured on {other} ({measured.runs} runs), scaled by FP16 TFLOPS"
            return measured.scaled(ratio, "scaled", detail)
        return None

    def cold_start(self, backend: str) -> tuple[float, str]:
        measured = cold_start(self._runs, backend)
        if measured is not None:
            return measured[0], f"measured: median of {measured[1]} runs"
        seed = self.throughput.cold_start(backend)
        if seed is None:
            return 0.0, "no figure"
        return seed.seconds, f"{seed.basis}: {seed.source}"

    # -- estimates ---------------------------------------------------------------------

    def report(
        self,
        plan: ClipPlan,
        specs: list[StageSpec],
        backends: list[str] | None = None,
        gpus: list[str] | None = None,
        *,
        gpus_for_cpu_stages: bool = False,
    ) -> EstimateReport:
        """Every offer's estimate, ranked. Stages that need no GPU are priced on CPU offers
        only, unless ``gpus_for_cpu_stages`` (a run already bound to a GPU backend, whose
        worker bills its GPU whatever the stage uses)."""
        rows: list[Estimate] = []
        skipped: list[Skipped] = []
        names = backends or self.backend_names()
        for device in self.devices(names, specs, gpus, gpus_for_cpu_stages):
            result = self.estimate(plan, specs, device)
            (rows if isinstance(result, Estimate) else skipped).append(result)
        _mark(rows)
        used = [self.catalog.price(r.price_id) for r in rows if r.price_id]
        return EstimateReport(
            plan=plan,
            rows=sorted(rows, key=lambda r: (r.usd, r.wall_s)),
            skipped=skipped,
            prices=provenance(used),
        )

    def backend_names(self) -> list[str]:
        return [b.name for b in self.catalog.backends]

    def devices(
        self,
        backends: list[str],
        specs: list[StageSpec],
        gpus: list[str] | None,
        gpus_for_cpu_stages: bool = False,
    ) -> list[_Device | Skipped]:
        from ..errors import BadInput

        known = set(self.backend_names())
        unknown = [b for b in backends if b not in known]
        if unknown:
            raise BadInput(
                f"no prices for backend {', '.join(unknown)}",
                fix=f"Backends with prices: {', '.join(sorted(known))}",
            )
        found: list[_Device | Skipped] = []
        wanted = {gpu_key(g) for g in gpus or []}
        cpu_only = all(s.device.accelerator == "none" for s in specs) and not gpus_for_cpu_stages
        for backend in backends:
            if self.catalog.billing(backend).here:
                if not wanted or wanted & {"cpu", backend} or self._local_gpu_matches(wanted):
                    found.append(self.local_device(backend, specs))
                continue
            for price in offers_for(backend, self.catalog, self.settings):
                pool = [self.catalog.gpu(g) for g in price.gpus]
                if wanted and not wanted & _names(price, pool):
                    continue
                device = _Device(backend=backend, gpus=pool, offer=price.offer, price=price)
                if cpu_only:
                    found.append(
                        Skipped(
                            backend=backend,
                            gpu=device.label,
                            offer=price.offer,
                            reason="the stages run on a CPU only: GPU offers are not priced "
                            "for them",
                        )
                    )
                    continue
                need = max((s.device.min_vram_gb for s in specs), default=0.0)
                vram = min(g.vram_gb for g in pool)
                if vram < need:
                    found.append(
                        Skipped(
                            backend=backend,
                            gpu=device.label,
                            offer=price.offer,
                            reason=f"{vram:g} GB of VRAM, the stages need {need:g} GB",
                        )
                    )
                    continue
                found.append(device)
        return found

    def _local_gpu_matches(self, wanted: set[str]) -> bool:
        name = _local_cuda_name()
        spec = self.catalog.find_gpu(name) if name else None
        return spec is not None and bool(wanted & {gpu_key(spec.id), gpu_key(spec.name)})

    def local_device(self, backend: str, specs: list[StageSpec]) -> _Device:
        gpus: list[GpuSpec] = []
        if any(s.device.accelerator != "none" for s in specs) and self.settings.device != "cpu":
            name = _local_cuda_name()
            spec = self.catalog.find_gpu(name) if name else None
            if spec is not None:
                gpus = [spec]
        return _Device(backend=backend, gpus=gpus, offer="your machine")

    def estimate(
        self, plan: ClipPlan, specs: list[StageSpec], device: _Device | Skipped
    ) -> Estimate | Skipped:
        if isinstance(device, Skipped):
            return device
        stages: list[StageEstimate] = []
        for spec in specs:
            found = self._stage(plan, spec, device)
            if found is None:
                where = device.label if device.gpus else "the CPU"
                return Skipped(
                    backend=device.backend,
                    gpu=device.label,
                    offer=device.offer,
                    reason=f"no time figure for {spec.name} on {where}: {UNTIMED_FIX}",
                    untimed=spec.name,
                    where=where,
                )
            stages.append(found)
        billing = self.catalog.billing(device.backend)
        remote = not billing.here
        cold, cold_basis = self.cold_start(device.backend) if remote else (0.0, "in-process")
        work_s = sum(s.seconds for s in stages)
        up = plan.source_bytes if remote else 0
        down = sum(s.output_bytes for s in stages) if remote else 0.0
        cost = self.settings.cost
        transfer_s = up * 8 / (cost.uplink_mbps * 1e6) + down * 8 / (cost.downlink_mbps * 1e6)
        notes: list[str] = []
        billed = 0.0
        if remote:
            billed = billed_seconds(cold + work_s + billing.idle_s, billing.increment_s)
        rate = billed_rate(self.catalog, self.settings, device.price, notes)
        transfer_usd = self.transfer_usd(billing.transfer, up, down, cold + work_s, notes)
        compute = billed * rate
        price = device.price
        return Estimate(
            backend=device.backend,
            gpu=device.label,
            offer=device.offer,
            backend_gpu=price.backend_gpu if price else None,
            price_id=price.id if price else None,
            usd_per_second=rate,
            installed=_installed(device.backend),
            stages=stages,
            cold_start_s=cold,
            cold_start_basis=cold_basis,
            transfer_s=transfer_s,
            transfer_bytes=up + down,
            billed_s=billed,
            wall_s=transfer_s + cold + work_s,
            compute_usd=compute,
            transfer_usd=transfer_usd,
            usd=compute + transfer_usd,
            price_as_of=price.as_of if price else None,
            price_origin=price.origin if price else None,
            notes=notes,
        )

    def _stage(self, plan: ClipPlan, spec: StageSpec, device: _Device) -> StageEstimate | None:
        seed = self.throughput.seed(spec.name)
        out_bytes = plan.frames * plan.width * plan.height / 1e6
        out_bytes *= seed.output_bytes_per_mp if seed else 0.0
        work = self.work_mp(spec.name, plan.width, plan.height)
        candidates = device.gpus or [None]
        if spec.device.accelerator == "none":
            candidates = [None]
        timed = []
        for gpu in candidates:
            model = self.model(spec.name, device.backend, gpu)
            if model is not None:
                timed.append(model)
        if not timed:
            return None
        # A pool may hand out any of its GPUs: plan for the slowest one we can time.
        model = max(timed, key=lambda m: m.seconds(plan.frames, work))
        return StageEstimate(
            stage=spec.name,
            seconds=model.seconds(plan.frames, work),
            basis=model.basis,
            detail=model.detail,
            output_bytes=out_bytes,
        )

    def transfer_usd(
        self, transfer: str, up: float, down: float, seconds: float, notes: list[str]
    ) -> float:
        if transfer == "object-storage":
            provider = self.storage_provider()
            egress = self.catalog.resource_price(provider, "egress")
            storage = self.catalog.resource_price(provider, "storage")
            months = seconds / 3600 / HOURS_PER_MONTH
            notes.append(f"transfer through {provider}")
            return down / GB * egress.usd + (up + down) / GB * storage.usd * months
        if transfer == "volume":
            notes.append("the backend's volume storage is not priced (no dated figure)")
        return 0.0

    def storage_provider(self) -> str:
        endpoint = self.settings.s3.endpoint_url or ""
        return "r2" if "r2.cloudflarestorage.com" in endpoint else "s3"


def offers_for(backend: str, catalog: Catalog, settings: Settings) -> list[Price]:
    """The GPU offers ``backend`` runs a clip on: its ``offers`` hook's choice, else every
    GPU offer the catalog lists for it (a backend this version cannot run included)."""
    hook = _hook(backend, "offers")
    return hook(settings, catalog) if hook else catalog.gpu_offers(backend)


def billed_rate(
    catalog: Catalog, settings: Settings, price: Price | None, notes: list[str] | None = None
) -> float:
    """USD per billed second of ``price``: its backend's ``rate`` hook (which adds what
    else it bills and its multipliers), else the price itself."""
    if price is None:
        return 0.0
    hook = _hook(price.backend, "rate")
    return hook(settings, catalog, price, notes) if hook else price.usd_per_second


def _hook(backend: str, name: str) -> Any:
    from ..backends import BACKENDS

    spec = BACKENDS.get(backend)
    return spec.hook(name) if spec else None


def billed_seconds(seconds: float, increment: float) -> float:
    """``seconds`` rounded up to the billing increment."""
    if increment <= 0:
        return seconds
    return math.ceil(seconds / increment - 1e-9) * increment


def _mark(rows: list[Estimate]) -> None:
    """Cheapest and fastest among the offers this version can run."""
    runnable = [r for r in rows if r.installed]
    if not runnable:
        return
    min(runnable, key=lambda r: (r.usd, r.wall_s)).cheapest = True
    min(runnable, key=lambda r: (r.wall_s, r.usd)).fastest = True


def _names(price: Price, pool: list[GpuSpec]) -> set[str]:
    names = {price.backend_gpu or "", price.id}
    for gpu in pool:
        names |= {gpu.id, gpu.name, *gpu.aliases}
    return {gpu_key(n) for n in names if n}


def _installed(backend: str) -> bool:
    from ..backends import BACKENDS

    return backend in BACKENDS


def _local_cuda_name() -> str | None:
    """The local CUDA GPU's name, or None (torch is imported only when it is installed)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


def clip_plan(clip: Path, specs: list[StageSpec], params: dict, probe=None) -> ClipPlan:
    """Frames and plate size the run will produce, from the probe and ingest's options."""
    from ..io.probe import probe as probe_clip
    from ..stages.ingest import IngestParams, frame_plan

    found = probe or probe_clip(clip)
    ingest = params.get("ingest") or IngestParams()
    frames, width, height = frame_plan(ingest, found)
    return ClipPlan(
        clip=str(clip),
        source_bytes=clip.stat().st_size,
        frames=frames,
        width=width,
        height=height,
        stages=[s.name for s in specs],
    )
