"""What Modal actually billed for a run, from its workspace billing report.

An ephemeral run (``--ephemeral``) is its own app, tagged ``vfx-ingest-run=<job id>``, so
the report's rows with that tag are exactly the run's cost: GPU, CPU and memory, cold
starts and idle time included. Modal reports whole hours only, and only once they are
over, so a run's cost is rarely known when it ends: its records keep the tag and window
(``stats.modal.billing``) and every later Modal run on the shot settles what has become
known. A deployed app serves every run, so its report cannot be split per run; those
records carry the measured GPU seconds for the price catalog instead.

The report needs a plan that includes it; where it cannot be read, costs stay unknown and
the run is not affected.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import VfxIngestError
from ...manifest import Manifest, PriceUsed, StageRecord
from .seam import ModalCalls
from .spec import TAG_RUN

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole hours covering [start, end]."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
    return first, last


def mark_pending(records: list[StageRecord], run_id: str) -> None:
    """Give the records that ran in ephemeral run ``run_id`` the tag and the window their
    cost is read from."""
    ran = [
        r
        for r in records
        if r.stats.get("modal", {}).get("run") == run_id and r.finished_at is not None
    ]
    if not ran:
        return
    finished = [r.finished_at for r in ran if r.finished_at is not None]
    first, last = window(min(r.started_at for r in ran), max(finished))
    for record in ran:
        record.stats["modal"]["billing"] = {
            "tag": f"{TAG_RUN}={run_id}",
            "from": first.isoformat(),
            "to": last.isoformat(),
            "cost_usd": None,
        }


def settle(calls: ModalCalls, manifest: Manifest, now: datetime | None = None) -> bool:
    """Fill in the billed cost of the shot's records whose window Modal has reported;
    True when a record changed. Each run's cost is shared among its stages in proportion
    to the time their calls took."""
    now = now or datetime.now(UTC)
    runs: dict[str, list[StageRecord]] = defaultdict(list)
    for record in manifest.stages.values():
        billing = _billing(record)
        if billing is None or billing["cost_usd"] is not None:
            continue
        if datetime.fromisoformat(billing["to"]) <= now:  # Modal has reported the window
            runs[billing["tag"]].append(record)
    changed = False
    for tag, records in runs.items():
        billing = _billing(records[0])
        assert billing is not None
        total = _tagged_cost(
            calls,
            tag,
            datetime.fromisoformat(billing["from"]),
            datetime.fromisoformat(billing["to"]),
        )
        if total is None:
            continue
        weights = [float(r.stats["modal"].get("call_s") or 0.0) for r in records]
        if not any(weights):
            weights = [1.0] * len(records)
        for record, weight in zip(records, weights, strict=True):
            record.cost_usd = round(total * weight / sum(weights), 6)
            record.stats["modal"]["billing"]["cost_usd"] = round(total, 6)
            seconds = float(record.stats["modal"].get("call_s") or 0.0)
            record.price = PriceUsed(
                id=tag,
                usd_per_second=record.cost_usd / seconds if seconds else 0.0,
                billed_s=seconds,
                origin="billed:modal",
            )
        changed = True
    return changed


def _billing(record: StageRecord) -> dict[str, Any] | None:
    modal = record.stats.get("modal")
    return modal.get("billing") if isinstance(modal, dict) else None


def _tagged_cost(calls: ModalCalls, tag: str, start: datetime, end: datetime) -> float | None:
    key, _, value = tag.partition("=")
    try:
        rows = calls.billing_report(start, end, [key])
    except VfxIngestError as exc:
        log.info("Modal's billing report could not be read (%s); costs stay pending", exc)
        return None
    return float(sum(float(row["cost"]) for row in rows if row["tags"].get(key) == value))
