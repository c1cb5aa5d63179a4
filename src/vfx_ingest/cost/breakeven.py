"""Pod or serverless for a monthly volume: ``vfx-ingest cost --usage 40h/month``.

For every GPU class with both a pod price and a serverless price (RunPod flex workers,
Modal), the monthly bill of each way to buy it, computed from the catalog:

- serverless (RunPod flex, Modal): billed only while working, ``hours x rate``, plus one
  cold start (and RunPod's idle timeout) per run when ``--runs`` is given;
- RunPod active worker: always on, ``730 h x active rate``;
- pod on demand (started per run, stopped after): ``hours x pod rate`` plus a cold start
  per run;
- pod always on: ``730 h x pod rate``.

The break-even volume is where an always-on pod costs the same as flex workers:
``730 h x pod rate / flex rate``; above it a pod that never stops is cheaper.
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
        pods = [p for p in catalog.gpu_offers("runpod-pod") if gpu.id in p.gpus]
        flex = _offer(catalog, "runpod-serverless", "flex", gpu.id)
        active = _offer(catalog, "runpod-serverless", "active", gpu.id)
        modal = _offer(catalog, "modal", "standard", gpu.id)
        if not pods or not (flex or modal):
            continue
        options: list[Option] = []
        if flex is not None:
            idle = catalog.billing("runpod-serverless").idle_s
            start = cold_start_s.get("runpod-serverless", 0.0) + idle
            options.append(
                _option(
                    catalog, settings, "RunPod serverless, flex", flex, hours + runs * start / 3600
                )
            )
        if active is not None:
            options.append(
                _option(
                    catalog,
                    settings,
                    "RunPod serverless, active (always on)",
                    active,
                    HOURS_PER_MONTH,
                )
            )
        if modal is not None:
            start = cold_start_s.get("modal", 0.0)
            options.append(_option(catalog, settings, "Modal", modal, hours + runs * start / 3600))
        pod_start = cold_start_s.get("runpod-pod", 0.0)
        for pod in sorted(pods, key=lambda p: p.usd_per_second):
            label = f"RunPod pod, {pod.offer} ({pod.backend_gpu})"
            on_demand = hours + runs * pod_start / 3600
            options.append(_option(catalog, settings, f"{label}, on demand", pod, on_demand))
            options.append(_option(catalog, settings, f"{label}, always on", pod, HOURS_PER_MONTH))
        min(options, key=lambda o: o.usd_per_month).cheapest = True
        break_even = None
        if flex is not None:
            cheapest_pod = min(pods, key=lambda p: p.usd_per_second)
            break_even = HOURS_PER_MONTH * cheapest_pod.usd_per_second / flex.usd_per_second
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


def _offer(catalog: Catalog, backend: str, offer: str, gpu: str) -> Price | None:
    return next(
        (p for p in catalog.gpu_offers(backend) if p.offer == offer and gpu in p.gpus), None
    )
