"""What a run actually cost, and what it teaches the estimates.

After a run, the pipeline prices every stage record that ran (not the cached ones) from the
price catalog: billed seconds (the stage's wall time, plus the cold start a backend reports
in ``stats["cold_start_s"]`` and the backend's idle time after the last stage, rounded up to
its billing increment) times the offer's rate. A backend that knows its real charge better
(a provider's own invoice figure) sets ``cost_usd`` and ``price`` itself and is left alone.
Then the runs go into the user's history, which calibrates the next estimates.

Conventions for backends, read here: ``record.device`` is the GPU's name as CUDA reports it
(or ``cpu``); ``stats["offer"]`` names the offer when a backend has several (``secure`` or
``community`` pods, ``flex`` or ``active`` workers); ``stats["cold_start_s"]`` is the billed
time before the first stage started.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

from ..config import Settings
from ..manifest import Manifest, PriceUsed, StageRecord
from .catalog import Catalog, Price
from .estimate import billed_rate, billed_seconds, offers_for
from .history import History, RunRow, device_key

log = logging.getLogger(__name__)

LOCAL = PriceUsed(id="local", usd_per_second=0.0, billed_s=0.0, origin="local")


def price_records(records: list[StageRecord], catalog: Catalog, settings: Settings) -> None:
    """Set ``cost_usd`` and ``price`` on the records of one run, in place."""
    for index, record in enumerate(records):
        if record.backend == "local":
            record.cost_usd = 0.0
            record.price = LOCAL.model_copy(update={"billed_s": record.wall_s or 0.0})
            continue
        if record.price is not None and record.cost_usd is not None:
            continue  # priced by the backend from the provider's own figures
        price = _offer(record, catalog, settings)
        if price is None:
            record.cost_usd, record.price = None, None
            continue
        billing = catalog.billing(record.backend)
        seconds = (record.wall_s or 0.0) + float(record.stats.get("cold_start_s") or 0.0)
        if index == len(records) - 1:
            seconds += billing.idle_s
        billed = billed_seconds(seconds, billing.increment_s)
        rate = billed_rate(catalog, settings, price)
        record.cost_usd = round(billed * rate, 6)
        record.price = PriceUsed(
            id=price.id,
            usd_per_second=rate,
            billed_s=billed,
            as_of=price.as_of,
            origin=price.origin,
        )


def _offer(record: StageRecord, catalog: Catalog, settings: Settings) -> Price | None:
    gpu = catalog.find_gpu(record.device)
    if gpu is None:
        return None
    offers = [p for p in catalog.gpu_offers(record.backend) if gpu.id in p.gpus]
    wanted = record.stats.get("offer")
    if wanted is not None:
        preferred = [p for p in offers if p.offer == wanted]
    else:  # the offer the backend prices runs on (its ``offers`` hook)
        chosen = {p.id for p in offers_for(record.backend, catalog, settings)}
        preferred = [p for p in offers if p.id in chosen]
    return (preferred or offers or [None])[0]


def history_rows(
    records: list[StageRecord], manifest: Manifest, job_id: str, shot: str, catalog: Catalog
) -> list[RunRow]:
    """The finished records worth learning from: done, with frames and a plate size."""
    import fileseq

    if manifest.frames is None:
        return []
    rows = []
    for record in records:
        if record.status != "done" or not record.frames or record.wall_s is None:
            continue
        rows.append(
            RunRow(
                recorded_at=record.finished_at or datetime.now(UTC),
                job_id=job_id,
                shot=shot,
                stage=record.stage,
                version=record.version,
                backend=record.backend,
                device=record.device,
                device_key=device_key(record.backend, record.device, catalog),
                frames=len(fileseq.FrameSet(record.frames)),
                width=manifest.frames.width,
                height=manifest.frames.height,
                wall_s=record.wall_s,
                cold_start_s=record.stats.get("cold_start_s"),
                cost_usd=record.cost_usd,
                price_id=record.price.id if record.price else None,
            )
        )
    return rows


def remember(history: History, rows: list[RunRow]) -> None:
    """Add rows to the history; a history that cannot be written never fails a run."""
    if not rows:
        return
    try:
        history.add(rows)
    except (sqlite3.Error, OSError) as exc:
        log.warning("could not record the run in %s: %s", history.path, exc)
