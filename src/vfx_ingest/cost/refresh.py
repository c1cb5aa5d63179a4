"""``vfx-ingest cost --refresh``: live prices where the user has credentials.

Each backend that publishes prices refreshes them through its ``refresh_prices`` hook
(into the user cache, ``catalog.cache_dir()``); the others keep the bundled, dated prices.
The bundled table stays the fallback, and every estimate says which was used and how old.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..config import Settings


class RefreshResult(BaseModel):
    provider: str
    status: Literal["refreshed", "skipped"]
    detail: str
    prices: int = 0
    path: str | None = None


def refresh(settings: Settings) -> list[RefreshResult]:
    """Every registered backend with prices in the catalog: refreshed, or kept as bundled."""
    from ..backends import BACKENDS
    from .catalog import bundled_catalog

    catalog = bundled_catalog()
    results = []
    for name, spec in BACKENDS.items():
        hook = spec.hook("refresh_prices")
        if hook is not None:
            results.append(hook(settings))
        elif catalog.gpu_offers(name):
            results.append(
                RefreshResult(
                    provider=name,
                    status="skipped",
                    detail="publishes no price list; the bundled, dated prices are kept",
                )
            )
    return results
