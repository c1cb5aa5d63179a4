"""Rich tables for the listing commands (built here, printed by the commands).

The listings people read most (``stages``, ``status``, ``cost``, ``models list``) fit an
80-column terminal without a cell wrapping: a compact style (:func:`compact`), short
cells, and what is long (descriptions, notes, errors) on lines of its own below the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..config import SettingRow
from ..manifest import Manifest, StageRecord
from ..stages.base import StageSpec

if TYPE_CHECKING:
    from ..backends.base import Resource
    from ..cost.breakeven import BreakEven
    from ..cost.catalog import Catalog
    from ..cost.estimate import Estimate, EstimateReport
    from ..models.registry import ModelEntry
    from ..models.store import ModelCheck, ModelSize


def compact(title: str | None = None) -> Table:
    """A table without borders but a rule under the header; two spaces between columns."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_edge=False,
    )


def stages_table(specs: Iterable[StageSpec]) -> Group:
    specs = list(specs)
    table = compact("Stages")
    for column in ("stage", "needs", "produces", "device", "models", "overlap"):
        table.add_column(column)
    for spec in specs:
        optional = f" (+ {', '.join(spec.uses)}?)" if spec.uses else ""
        table.add_row(
            spec.name,
            ", ".join(spec.needs) + optional,
            ", ".join(spec.produces),
            spec.device.describe(),
            str(len(spec.models)) if spec.models else "-",
            str(spec.chunking.overlap) if spec.chunking else "-",
        )
    lines = [Text(f"{spec.name}: {spec.summary}") for spec in specs]
    return Group(
        table,
        Text(
            "(+ x?): used when present; models: how many (`vfx-ingest models list`); "
            "overlap: frames shared by chunks (- when the stage does not split)",
            style="dim",
        ),
        *lines,
    )


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


# Interrupted, like stale, asks for a rerun (which resumes); failed asks for a look first.
STATUS_STYLES = {"done": "green", "failed": "red", "interrupted": "yellow", "stale": "yellow"}


def status_table(manifest: Manifest, root: Path) -> Group:
    """One row a stage (no cell that wraps); its notes and prices on lines below."""
    from ..cache import staleness
    from ..stages import REGISTRY

    table = compact(f"Shot {root}")
    for column in ("stage", "status", "frames", "ran on", "wall s", "cost $"):
        table.add_column(column, justify="right" if column in ("wall s", "cost $") else "left")
    notes: list[Text] = []
    total_wall, total_cost = 0.0, 0.0
    for name, record in manifest.stages.items():
        note = record.error or ""
        if record.last_good is not None:
            when = record.last_good.finished_at or record.last_good.started_at
            kept = f"the pass of {when:%Y-%m-%d %H:%M} UTC is kept"
            note = f"{note}; {kept}" if note else kept
        status = record.status
        spec = REGISTRY.get(name)
        if (
            status == "done"
            and spec is not None
            and (why := staleness(spec, record, manifest, root))
        ):
            status, note = "stale", why
        style = STATUS_STYLES.get(status, "")
        total_wall += record.wall_s or 0.0
        total_cost += record.cost_usd or 0.0
        table.add_row(
            name,
            f"[{style}]{status}[/]" if style else status,
            record.frames or "",
            f"{record.backend} {record.device}",
            f"{record.wall_s:.1f}" if record.wall_s is not None else "",
            f"{record.cost_usd:.4f}" if record.cost_usd is not None else "?",
        )
        for label, text in (("note", note), ("priced from", _priced_from(record))):
            if text:
                notes.append(Text.from_markup(f"{name} {label}: [dim]{escape(text)}[/]"))
        quality = _solve_quality(record)
        if quality:
            notes.append(Text(f"{name} solve: {quality}"))
    table.add_section()
    table.add_row("total", "", "", "", f"{total_wall:.1f}", f"{total_cost:.4f}")
    return Group(table, *notes)


def _solve_quality(record: StageRecord) -> str:
    """A camera solve's quality from its record's stats ("" for other stages)."""
    from ..camera.cameras_json import quality_line

    return quality_line(record.stats) if record.status == "done" else ""


def _priced_from(record: StageRecord) -> str:
    if record.price is None:
        return ""
    if record.price.as_of is None:
        return record.price.id
    return f"{record.price.id} ({record.price.as_of}, {record.price.billed_s:.0f} s billed)"


def settings_table(rows: Iterable[SettingRow]) -> Table:
    table = Table(title="Configuration", title_justify="left")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for row in rows:
        value = "" if row.value is None else str(row.value)
        table.add_row(row.key, f"[dim]{value}[/]" if row.secret else value, row.source)
    return table


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _usd(value: float) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


def estimate_table(report: EstimateReport) -> Table:
    plan = report.plan
    table = compact(
        f"{plan.clip}: {plan.frames} frames {plan.width}x{plan.height}, "
        f"stages {', '.join(plan.stages)}"
    )
    for column in ("backend", "GPU", "offer", "wall", "$"):
        table.add_column(column, justify="right" if column in ("wall", "$") else "left")
    for row in report.rows:
        # Which offers are cheapest and fastest: bold here, named under the table.
        style = "bold green" if row.cheapest else "bold cyan" if row.fastest else None
        table.add_row(
            row.backend + ("" if row.installed else " *"),
            _gpu_label(row),
            row.offer,
            _duration(row.wall_s),
            _usd(row.usd),
            style=style,
        )
    return table


def _basis(row: Estimate) -> str:
    return ", ".join(f"{s.stage} {s.basis}" for s in row.stages)


def models_table(
    entries: Iterable[ModelEntry],
    cached: dict[str, Path | None],
    sizes: dict[str, ModelSize | None],
) -> Group:
    from rich.filesize import decimal

    table = compact("Models (* = the stage's default)")
    for column in ("id", "stage", "size", "license", "commercial", "gated", "cached"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for m in entries:
        size = sizes.get(m.id)
        table.add_row(
            f"{m.id} *" if m.default else m.id,
            m.stage,
            ("" if size.exact else "~") + decimal(size.bytes) if size else "-",
            m.license,
            "yes" if m.commercial else "[yellow]no[/]",
            "manual" if m.manual else ("[yellow]yes[/]" if m.gated else "-"),
            "yes" if cached.get(m.id) else "[dim]no[/]",
        )
    notes = [
        Text("~: estimated from the parameter count (float32); exact once downloaded", "dim"),
        Text("where: vfx-ingest models path ID", "dim"),
    ]
    return Group(table, *notes)


def _gpu_label(row: Estimate) -> str:
    """Our GPU class, with the provider's name where it says more (a pool, a variant)."""
    if row.backend_gpu is None or row.backend_gpu == row.gpu:
        return row.gpu
    if row.backend_gpu.startswith("NVIDIA "):  # a GPU model (a pod's), not a pool
        return row.backend_gpu.removeprefix("NVIDIA ")
    return f"{row.backend_gpu} ({row.gpu})"


def estimate_footer(report: EstimateReport, stale_after_days: int) -> list[str]:
    from datetime import date

    lines = []
    for mark in ("cheapest", "fastest"):
        for row in (r for r in report.rows if getattr(r, mark)):
            lines.append(
                f"{mark}: {row.backend} {_gpu_label(row)} ({row.offer}), "
                f"{_duration(row.wall_s)}, ${_usd(row.usd)}"
            )
    bases: dict[str, list[Estimate]] = {}
    for row in report.rows:
        bases.setdefault(_basis(row), []).append(row)
    for basis, rows in bases.items():
        which = (
            ""
            if len(bases) == 1
            else f" ({', '.join(f'{r.backend} {_gpu_label(r)}' for r in rows)})"
        )
        lines.append(f"time from {basis}{which}")
    if any(not r.installed for r in report.rows):
        lines.append("* estimate only: this version cannot run this backend yet")
    today = date.today()
    stale = False
    for prices in report.prices:
        age = (today - prices.oldest).days
        stale |= age > stale_after_days
        lines.append(
            f"prices {prices.backend}: {prices.origin}, as of {prices.oldest}"
            + (f" to {prices.newest}" if prices.newest != prices.oldest else "")
            + f" ({age} days old)"
        )
    if stale:
        lines.append(
            f"[yellow]some prices are older than {stale_after_days} days: "
            "`vfx-ingest cost --refresh` fetches live ones where a backend publishes them; "
            "see `vfx-ingest cost` for sources[/]"
        )
    if report.skipped:
        count = len(report.skipped)
        lines.append(
            f"{count} offer{'s' if count != 1 else ''} not shown: "
            + "; ".join(_skip_reasons(report))
        )
    return lines


def _skip_reasons(report: EstimateReport) -> list[str]:
    """Why offers are missing, one line per reason (untimed places gathered per stage)."""
    from ..cost.estimate import UNTIMED_FIX

    untimed: dict[str, set[str]] = {}
    reasons: set[str] = set()
    for skip in report.skipped:
        if skip.untimed is None:
            reasons.add(skip.reason)
        else:
            untimed.setdefault(skip.untimed, set()).add(skip.where)
    for stage, places in sorted(untimed.items()):
        listed = ", ".join(sorted(places, key=lambda p: (p == "the CPU", p)))
        reasons.add(f"no time figure for {stage} on {listed}: {UNTIMED_FIX}")
    return sorted(reasons)


def prices_table(catalog: Catalog) -> Table:
    from datetime import date

    today = date.today()
    table = Table(title="Prices (USD)", title_justify="left")
    for column in ("price", "GPUs", "USD", "per", "as of", "age", "origin", "source"):
        table.add_column(column, justify="right" if column in ("USD", "age") else "left")
    for price in catalog.prices:
        table.add_row(
            price.id,
            ", ".join(price.gpus) or "-",
            f"{price.usd:g}",
            price.unit,
            str(price.as_of),
            f"{price.age_days(today)} d",
            price.origin,
            price.source,
        )
    return table


def breakeven_table(result: BreakEven) -> Table:
    runs = f", {result.runs_per_month} runs" if result.runs_per_month else ""
    table = Table(
        title=f"{result.usage.hours_per_month:.1f} GPU-hours a month{runs}: pod or serverless",
        title_justify="left",
    )
    for column in ("GPU", "how", "$ / h", "$ / month", "", "always-on pod pays off above"):
        table.add_column(column, justify="right" if "$" in column else "left")
    for row in result.rows:
        for index, option in enumerate(sorted(row.options, key=lambda o: o.usd_per_month)):
            first = index == 0
            table.add_row(
                row.gpu if first else "",
                option.name,
                f"{option.usd_per_hour:.3f}",
                f"{option.usd_per_month:.2f}",
                "[bold green]cheapest[/]" if option.cheapest else "",
                f"{row.always_on_break_even_h:.0f} h/month"
                if first and row.always_on_break_even_h is not None
                else "",
            )
        table.add_section()
    return table


def checks_table(checks: Iterable[ModelCheck]) -> Table:
    table = Table(title="Model files", title_justify="left")
    for column in ("id", "status", "files", "checked against", "folder / problem"):
        table.add_column(column)
    style = {"ok": "green", "corrupt": "red", "missing": "dim"}
    for check in checks:
        against = sorted(
            {f.checked_against or "recorded digest" for f in check.files if f.status == "ok"}
        )
        table.add_row(
            check.id,
            f"[{style[check.status]}]{check.status}[/]",
            f"{sum(f.status == 'ok' for f in check.files)}/{len(check.files)}",
            ", ".join(against) or "-",
            check.problems() if check.status == "corrupt" else (check.folder or "-"),
        )
    return table


def resources_table(rows: Iterable[Resource]) -> Table:
    from rich.filesize import decimal

    table = Table(title="In the cloud", title_justify="left")
    for column in ("backend", "kind", "name", "size", "status", "detail"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for row in rows:
        table.add_row(
            row.backend,
            row.kind,
            row.name,
            decimal(row.size_bytes) if row.size_bytes is not None else "-",
            row.status or "-",
            row.detail,
        )
    return table
