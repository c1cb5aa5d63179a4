"""RunPod's prices: which catalog offers a serverless run uses, and live prices.

- ``serverless_offers``: flex workers, or active ones (``cost.runpod_serverless_offer``);
  the other kind is priced in the break-even only.
- ``refresh_prices`` (``vfx-ingest cost --refresh``): ``GET /v2/catalog/gpus`` (RunPod
  REST API v2 at ``runpod.rest_url``, "List GPU types": every GPU type with its secure and
  community pod price and its serverless pool price, USD per hour), with the user's API
  key. The result replaces the
  bundled RunPod pod and flex-worker prices.

Live prices go to the user cache (catalog.cache_dir()); the bundled table stays the
fallback, and every estimate says which was used and how old it is.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, Field, ValidationError

from ...config import Settings
from ...cost.catalog import Catalog, GpuSpec, LivePrices, Price, bundled_catalog, now, save_live
from ...cost.refresh import RefreshResult
from ...errors import VfxIngestError

RUNPOD = "live:runpod"


class _RunpodPrice(BaseModel):
    secure: float | None = None
    community: float | None = None
    serverless: float | None = None


class _RunpodGpu(BaseModel):
    """One entry of ``ListGpuTypesResponse.gpus`` (RunPod API v2 ``GpuType``)."""

    id: str
    name: str
    pool: str | None = None
    memory: float
    secure: bool
    community: bool
    price: _RunpodPrice


class _RunpodCatalog(BaseModel):
    gpus: list[_RunpodGpu] = Field(default_factory=list)


def serverless_offers(settings: Settings, catalog: Catalog) -> list[Price]:
    """The ``offers`` hook: the serverless workers a run is priced on (flex, or active)."""
    wanted = settings.cost.runpod_serverless_offer
    return [p for p in catalog.gpu_offers("runpod-serverless") if p.offer == wanted]


def refresh_prices(settings: Settings) -> RefreshResult:
    key = settings.runpod.api_key
    if key is None:
        return RefreshResult(
            provider="runpod",
            status="skipped",
            detail="no RunPod API key (set RUNPOD_API_KEY); bundled prices kept",
        )
    from .api import ControlPlane

    url = f"{settings.runpod.rest_url.rstrip('/')}/catalog/gpus"
    control = ControlPlane(settings.runpod.rest_url, key.get_secret_value(), timeout=20.0)
    try:
        found = _RunpodCatalog.model_validate({"gpus": control.gpus()})
    except ValidationError as exc:
        raise VfxIngestError(
            "RunPod's GPU catalog answered in an unexpected shape",
            where=url,
            fix="Report it; the bundled prices stay in use",
        ) from exc
    finally:
        control.http.close()
    live = runpod_prices(found, bundled_catalog(), url, date.today())
    if not live.prices:
        raise VfxIngestError("RunPod's GPU catalog listed no prices", where=url)
    path = save_live(live)
    return RefreshResult(
        provider="runpod",
        status="refreshed",
        detail=f"{len(found.gpus)} GPU types from {url}",
        prices=len(live.prices),
        path=str(path),
    )


def runpod_prices(found: _RunpodCatalog, catalog: Catalog, url: str, today: date) -> LivePrices:
    """RunPod's catalog as our prices: pods per GPU and cloud, flex workers per pool."""
    dated = {"as_of": today, "source": url, "origin": RUNPOD}
    new_gpus: dict[str, GpuSpec] = {}
    prices: list[Price] = []
    pools: dict[str, tuple[list[str], float]] = {}
    for gpu in found.gpus:
        spec = catalog.find_gpu(gpu.id) or catalog.find_gpu(gpu.name)
        if spec is None:
            taken = {g.id for g in catalog.gpus}
            spec = new_gpus.setdefault(
                gpu.id,
                GpuSpec(
                    id=_slug(gpu.name) + ("-runpod" if _slug(gpu.name) in taken else ""),
                    name=gpu.id,
                    vram_gb=gpu.memory,
                    aliases=(gpu.id, gpu.name),
                    note="From RunPod's catalog; no throughput figure, so no time estimate.",
                    **dated,
                ),
            )
        for cloud, available, usd in (
            ("secure", gpu.secure, gpu.price.secure),
            ("community", gpu.community, gpu.price.community),
        ):
            if available and usd:
                prices.append(
                    Price(
                        id=f"runpod-pod/{cloud}/{_slug(gpu.id)}",
                        backend="runpod-pod",
                        resource="gpu",
                        offer=cloud,
                        gpus=(spec.id,),
                        backend_gpu=gpu.id,
                        usd=usd,
                        unit="hour",
                        **dated,
                    )
                )
        if gpu.pool and gpu.price.serverless:
            members, usd = pools.get(gpu.pool, ([], 0.0))
            if spec.id not in members:
                members.append(spec.id)
            # A pool has one rate; if GPUs disagree, plan for the highest.
            pools[gpu.pool] = (members, max(usd, gpu.price.serverless))
    for pool, (members, usd) in sorted(pools.items()):
        prices.append(
            Price(
                id=f"runpod-serverless/flex/{pool}",
                backend="runpod-serverless",
                resource="gpu",
                offer="flex",
                gpus=tuple(members),
                backend_gpu=pool,
                usd=usd,
                unit="hour",
                **dated,
            )
        )
    return LivePrices(
        provider="runpod",
        fetched_at=now(),
        source=url,
        backends=("runpod-pod", "runpod-serverless"),
        gpus=list(new_gpus.values()),
        prices=prices,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name.removeprefix("NVIDIA ")).strip("-")
