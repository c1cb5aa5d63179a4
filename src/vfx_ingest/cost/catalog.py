"""The price catalog: bundled, dated, sourced price data, overlaid with live prices.

``catalog.toml`` in this package is the fallback every install has. ``vfx-ingest cost
--refresh`` writes live prices per provider into the user cache (``prices/<provider>.json``);
:func:`load_catalog` lays those over the bundled entries, so every entry says where it came
from (``origin``) and how old it is (``as_of``).
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import BadInput

Resource = Literal["gpu", "cpu", "memory", "storage", "egress", "requests"]
Unit = Literal["second", "hour", "core-second", "gib-second", "gb-month", "gb", "million-requests"]
Transfer = Literal["none", "object-storage", "direct", "volume"]

BUNDLED = "bundled"
# Seconds in a billing unit, for the units that bill time.
_UNIT_SECONDS = {"second": 1.0, "hour": 3600.0, "core-second": 1.0, "gib-second": 1.0}


class Sourced(BaseModel):
    """Every catalog entry says when its figure held and where it was published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    source: str = Field(min_length=1)
    read_via: str | None = Field(None, description="The dated transcription we read it in.")
    note: str | None = None
    origin: str = Field(BUNDLED, description="bundled, or live:<provider> after --refresh.")

    def age_days(self, today: date | None = None) -> int:
        return ((today or date.today()) - self.as_of).days


class GpuSpec(Sourced):
    id: str
    name: str
    vram_gb: float = Field(gt=0)
    fp16_tflops: float | None = Field(None, gt=0, description="Dense FP16 tensor, FP32 acc.")
    aliases: tuple[str, ...] = ()


class BackendBilling(Sourced):
    name: str
    label: str = Field(description="Its name in tables (the break-even's options).")
    summary: str
    rented: bool = Field(False, description="Billed while it exists: pods.")
    always_on_offers: tuple[str, ...] = Field(
        (), description="Its offers billed around the clock, used or not."
    )

    @property
    def here(self) -> bool:
        """Runs on this machine: nothing to move, no cold start, nothing billed."""
        return self.transfer == "none"

    increment_s: float = Field(ge=0, description="Billing granularity; partial units round up.")
    idle_s: float = Field(ge=0, description="Billed after the work ends, before a stop.")
    transfer: Transfer


class Price(Sourced):
    id: str
    backend: str = Field(description="A backend name, or a storage provider (r2, s3).")
    resource: Resource
    offer: str = "standard"
    gpus: tuple[str, ...] = ()
    backend_gpu: str | None = Field(None, description="The provider's own name for the GPU.")
    usd: float = Field(ge=0)
    unit: Unit

    @property
    def usd_per_second(self) -> float:
        """Price of one second of the resource (one GPU, core or GiB)."""
        try:
            return self.usd / _UNIT_SECONDS[self.unit]
        except KeyError:
            raise ValueError(f"{self.id} is not priced by time ({self.unit})") from None


class Multiplier(Sourced):
    id: str
    backend: str
    setting: str = Field(description="The setting that turns it on.")
    applies_to: tuple[Resource, ...]
    factor: float = Field(gt=0)


class Refreshed(BaseModel):
    """A provider whose live prices are in the user cache."""

    provider: str
    fetched_at: datetime
    source: str
    backends: tuple[str, ...]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: Literal[1] = 1
    currency: Literal["USD"] = "USD"
    gpus: list[GpuSpec] = Field(alias="gpu")
    backends: list[BackendBilling] = Field(alias="backend")
    prices: list[Price] = Field(alias="price")
    multipliers: list[Multiplier] = Field(default_factory=list, alias="multiplier")
    refreshed: list[Refreshed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        for kind, ids in (
            ("gpu", [g.id for g in self.gpus]),
            ("price", [p.id for p in self.prices]),
            ("backend", [b.name for b in self.backends]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {', '.join(dupes)}")
        known = {g.id for g in self.gpus}
        for price in self.prices:
            unknown = set(price.gpus) - known
            if unknown:
                raise ValueError(f"{price.id} names unknown GPUs: {', '.join(sorted(unknown))}")
            if (price.resource == "gpu") != bool(price.gpus):
                raise ValueError(f"{price.id}: a gpu price names its GPUs, no other price does")
        return self

    def gpu(self, gpu_id: str) -> GpuSpec:
        for spec in self.gpus:
            if spec.id == gpu_id:
                return spec
        raise KeyError(gpu_id)

    def find_gpu(self, name: str) -> GpuSpec | None:
        """The GPU class a device or provider name refers to ("NVIDIA A100-SXM4-80GB")."""
        wanted = gpu_key(name)
        for spec in self.gpus:
            if wanted in {gpu_key(n) for n in (spec.id, spec.name, *spec.aliases)}:
                return spec
        return None

    def billing(self, backend: str) -> BackendBilling:
        for entry in self.backends:
            if entry.name == backend:
                return entry
        raise KeyError(backend)

    def gpu_offers(self, backend: str | None = None) -> list[Price]:
        return [
            p
            for p in self.prices
            if p.resource == "gpu" and (backend is None or p.backend == backend)
        ]

    def price(self, price_id: str) -> Price:
        for entry in self.prices:
            if entry.id == price_id:
                return entry
        raise KeyError(price_id)

    def resource_price(self, backend: str, resource: Resource, offer: str = "standard") -> Price:
        for entry in self.prices:
            if entry.backend == backend and entry.resource == resource and entry.offer == offer:
                return entry
        raise KeyError(f"{backend}/{resource}/{offer}")

    def entries(self) -> list[Sourced]:
        return [*self.gpus, *self.backends, *self.prices, *self.multipliers]


def gpu_key(name: str) -> str:
    """A GPU name reduced for matching: "NVIDIA GeForce RTX 4090" and "rtx-4090" agree."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("nvidia", "").replace("geforce", ""))


@functools.cache  # read-only once loaded (an overlay makes a new Catalog)
def bundled_catalog() -> Catalog:
    import tomllib

    text = resources.files(__package__).joinpath("catalog.toml").read_text()
    return Catalog.model_validate(tomllib.loads(text))


def cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("vfx-ingest") / "prices"


class LivePrices(BaseModel):
    """What a refresh writes to the user cache for one provider."""

    provider: str
    fetched_at: datetime
    source: str
    backends: tuple[str, ...] = Field(description="Backends whose GPU prices it replaces.")
    gpus: list[GpuSpec] = Field(default_factory=list)
    prices: list[Price]


def save_live(live: LivePrices) -> Path:
    from .. import atomic

    path = cache_dir() / f"{live.provider}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, live.model_dump_json(indent=1))
    return path


def load_catalog() -> Catalog:
    """The bundled catalog with any refreshed live prices laid over it."""
    catalog = bundled_catalog()
    folder = cache_dir()
    if not folder.is_dir():
        return catalog
    for path in sorted(folder.glob("*.json")):
        try:
            live = LivePrices.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as exc:
            raise BadInput(
                f"cannot read cached live prices ({exc})",
                where=str(path),
                fix="Delete the file or run `vfx-ingest cost --refresh` again",
            ) from exc
        catalog = overlay(catalog, live)
    return catalog


def overlay(catalog: Catalog, live: LivePrices) -> Catalog:
    """Live GPU prices replace the bundled GPU prices of the backends they cover."""
    known = {g.id for g in catalog.gpus}
    kept = [
        p
        for p in catalog.prices
        if not (p.resource == "gpu" and p.backend in live.backends and p.offer != "active")
    ]
    return Catalog(
        gpu=[*catalog.gpus, *(g for g in live.gpus if g.id not in known)],
        backend=catalog.backends,
        price=[*kept, *live.prices],
        multiplier=catalog.multipliers,
        refreshed=[
            *catalog.refreshed,
            Refreshed(
                provider=live.provider,
                fetched_at=live.fetched_at,
                source=live.source,
                backends=live.backends,
            ),
        ],
    )


class BackendPrices(BaseModel):
    """For the output line that says which prices were used and how old they are."""

    backend: str
    origin: str
    oldest: date
    newest: date


def provenance(prices: list[Price]) -> list[BackendPrices]:
    """Per backend: where the prices used came from and their dates."""
    rows = []
    for backend in dict.fromkeys(p.backend for p in prices):
        used = [p for p in prices if p.backend == backend]
        rows.append(
            BackendPrices(
                backend=backend,
                origin=" + ".join(sorted({p.origin for p in used})),
                oldest=min(p.as_of for p in used),
                newest=max(p.as_of for p in used),
            )
        )
    return rows


def now() -> datetime:
    return datetime.now(UTC)
