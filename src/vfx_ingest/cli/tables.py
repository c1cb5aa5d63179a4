"""Rich tables for the listing commands (built here, printed by the commands)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.table import Table

from ..config import SettingRow
from ..manifest import Manifest
from ..stages.base import StageSpec


def stages_table(specs: Iterable[StageSpec]) -> Table:
    table = Table(title="Stages", title_justify="left")
    for column in ("stage", "needs", "produces", "device", "models", "chunks", "what it does"):
        table.add_column(column)
    for spec in specs:
        optional = f" (+ {', '.join(spec.uses)} if present)" if spec.uses else ""
        table.add_row(
            spec.name,
            ", ".join(spec.needs) + optional,
            ", ".join(spec.produces),
            spec.device.describe(),
            ", ".join(spec.models) or "-",
            f"yes (overlap {spec.chunking.overlap})" if spec.chunking else "no",
            spec.summary,
        )
    return table


def stage_options_table(spec: StageSpec) -> Table:
    from .run_cmd import option_flag

    table = Table(title=f"{spec.name} options (vfx-ingest run ...)", title_justify="left")
    for column in ("option", "default", "description"):
        table.add_column(column)
    for field, info in spec.params.model_fields.items():
        default = info.get_default(call_default_factory=True)
        table.add_row(
            option_flag(spec, field),
            "-" if default is None else str(default),
            info.description or "",
        )
    return table


def status_table(manifest: Manifest, root: Path) -> Table:
    from ..cache import staleness
    from ..stages import REGISTRY

    table = Table(title=f"Shot {root}", title_justify="left")
    for column in ("stage", "status", "frames", "backend", "device", "wall s", "cost $", "note"):
        table.add_column(column, justify="right" if column in ("wall s", "cost $") else "left")
    total_wall, total_cost = 0.0, 0.0
    for name, record in manifest.stages.items():
        note = record.error or ""
        status = record.status
        spec = REGISTRY.get(name)
        if (
            status == "done"
            and spec is not None
            and (why := staleness(spec, record, manifest, root))
        ):
            status, note = "stale", why
        style = {"done": "green", "failed": "red", "stale": "yellow"}.get(status, "")
        total_wall += record.wall_s or 0.0
        total_cost += record.cost_usd or 0.0
        table.add_row(
            name,
            f"[{style}]{status}[/]" if style else status,
            record.frames or "",
            record.backend,
            record.device,
            f"{record.wall_s:.1f}" if record.wall_s is not None else "",
            f"{record.cost_usd:.4f}" if record.cost_usd is not None else "?",
            note,
        )
    table.add_section()
    table.add_row("total", "", "", "", "", f"{total_wall:.1f}", f"{total_cost:.4f}", "")
    return table


def settings_table(rows: Iterable[SettingRow]) -> Table:
    table = Table(title="Configuration", title_justify="left")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for row in rows:
        value = "" if row.value is None else str(row.value)
        table.add_row(row.key, f"[dim]{value}[/]" if row.secret else value, row.source)
    return table
