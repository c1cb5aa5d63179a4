"""Pod or serverless for a monthly volume: ``vfx-ingest cost --usage 40h/month``.

For every GPU class with both a rented offer (a backend billed while it exists: pods) and
a serverless one (billed while it works), the monthly bill of each way to buy it, from the
catalog's data (``[[backend]]``: ``rented``, ``always_on_offers``, ``label``):

- serverless: billed only while working, ``hours x rate``, plus one cold start (and the
  backend's idle time) per run when ``--runs`` is given;
- an always-on serverless offer (active serverless workers): ``730 h x rate``;
- rented, on demand (started per run, stopped after): ``hours x rate`` plus a cold start
  per run;
- rented, always on: ``730 h x rate``.

The break-even volume is where an always-on rented GPU costs the same as the cheapest
serverless offer: ``730 h x rented rate / serverless rate``; above it, one that never
stops is cheaper.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from ..config import Settings
from ..errors import BadInput
from .catalog import Catalog, Price
from .estimate import HOURS_PER_MONTH, billed_rate

_PER = {"day": 365.25 / 12, "week": 365.25 / 12 / 7, "month": 1.0}


class Usage(BaseModel):
    text: str
    hours_per_month: float


def parse_usage(text: str) -> Usage:
    """``40h/month``, ``10h/week``, ``2h/day`` or ``40h`` (per month)."""
    match = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*h(?:ours?)?\s*(?:/\s*(day|week|month))?\s*", text.lower()
    )
    if not match:
        raise BadInput(
            f"cannot read --usage {text!r}",
            fix="Write hours per period: 40h/month, 10h/week or 2h/day",
        )
    hours = float(match.group(1)) * _PER[match.group(2) or "month"]
    if hours > HOURS_PER_MONTH:
        raise BadInput(
            f"--usage {text} is {hours:.0f} GPU-hours a month, more than one GPU can work "
            f"({HOURS_PER_MONTH:.0f} h)",
            fix="Give the hours of one GPU",
        )
    return Usage(text=text, hours_per_month=hours)


class Option(BaseModel):
    name: str
    price_id: str
    usd_per_hour: float
    usd_per_month: float
    cheapest: bool = False


class BreakEvenRow(BaseModel):
    gpu: str
    options: list[Option]
    always_on_break_even_h: float | None = None


class BreakEven(BaseModel):
    usage: Usage
    runs_per_month: int | None
    cold_start_s: dict[str, float]
    rows: list[BreakEvenRow]


def breakeven(
    catalog: Catalog,
    settings: Settings,
    usage: Usage,
    runs_per_month: int | None,
    cold_start_s: dict[str, float],
) -> BreakEven:
    hours = usage.hours_per_month
    runs = runs_per_month or 0
    rows = []
    for gpu in catalog.gpus:
        rented: list[Price] = []
        per_use: list[Price] = []
        options: list[Option] = []
        for billing in catalog.backends:
            start = cold_start_s.get(billing.name, 0.0) + billing.idle_s
            on_demand = hours + runs * start / 3600
            for price in catalog.gpu_offers(billing.name):
                if gpu.id not in price.gpus:
                    continue
                label = f"{billing.label}, {price.offer}"
                if billing.rented:
                    rented.append(price)
                    label += f" ({price.backend_gpu})"
                    options.append(
                        _option(catalog, settings, f"{label}, on demand", price, on_demand)
                    )
                    options.append(
                        _option(catalog, settings, f"{label}, always on", price, HOURS_PER_MONTH)
                    )
                elif price.offer in billing.always_on_offers:
                    options.append(
                        _option(catalog, settings, f"{label} (always on)", price, HOURS_PER_MONTH)
                    )
                else:
                    per_use.append(price)
                    options.append(_option(catalog, settings, label, price, on_demand))
        if not rented or not per_use:
            continue
        min(options, key=lambda o: o.usd_per_month).cheapest = True
        cheapest_rented = min(billed_rate(catalog, settings, p) for p in rented)
        cheapest_per_use = min(billed_rate(catalog, settings, p) for p in per_use)
        break_even = HOURS_PER_MONTH * cheapest_rented / cheapest_per_use
        rows.append(BreakEvenRow(gpu=gpu.id, options=options, always_on_break_even_h=break_even))
    return BreakEven(
        usage=usage, runs_per_month=runs_per_month, cold_start_s=cold_start_s, rows=rows
    )


def _option(
    catalog: Catalog, settings: Settings, name: str, price: Price, month_hours: float
) -> Option:
    per_hour = billed_rate(catalog, settings, price) * 3600
    return Option(
        name=name, price_id=price.id, usd_per_hour=per_hour, usd_per_month=per_hour * month_hours
    )
