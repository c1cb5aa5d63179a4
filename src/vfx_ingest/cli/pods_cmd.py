"""``vfx-ingest pods``: the pods our runs made, through the backends' ``resources`` and
``cleanup`` hooks (the backends whose resources are pods)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def pods() -> None:
    """Pods made by runs: list them, remove leftovers."""


def _pod_backends() -> list:
    from ..backends import with_hook

    return [spec for spec in with_hook("pod") if spec.has("resources")]


@app.command(
    "list",
    epilog="Examples:\n\n  vfx-ingest pods list\n\n  vfx-ingest pods list --json\n\n"
    "Lists every pod whose name starts with vfx-ingest- (also one whose create answer\n"
    "was lost), with what this machine's ledger knows: its run, deadline, client.",
)
def list_pods(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per pod.")] = False,
) -> None:
    """List our pods: id, name, status, GPU, $/h, age, run."""
    with errors_to_exit_codes(as_json=as_json):
        from rich.table import Table

        from ..config import load_settings
        from .output import emit_json, out

        settings = load_settings()
        rows = [row for spec in _pod_backends() for row in spec.hook("resources")(settings)]
        if as_json:
            for row in rows:
                emit_json(row.model_dump(mode="json"))
            return
        if not rows:
            # A backend without credentials answers from this machine's ledger alone.
            out.print("no pods of ours found (a backend without its API key was not asked)")
            return
        table = Table(box=None, width=min(80, out.width))
        for column in ("id", "status", "name", "detail"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row.id or "", row.status or "", row.name, row.detail)
        out.print(table)


@app.command(
    "gc",
    epilog="Examples:\n\n  vfx-ingest pods gc\n\n  vfx-ingest pods gc --older-than 0s\n\n"
    "  vfx-ingest pods gc --all --dry-run\n\n"
    "Terminates the pods of this machine's runs whose client has gone, and our pods\n"
    "older than --older-than that no live run here holds. --all: every pod of ours,\n"
    "kept ones and those of running runs included.",
)
def gc(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age: 90s, 30m, 12h, 7d (default 1h).")
    ] = "1h",
    everything: Annotated[bool, typer.Option("--all", help="Every pod of ours.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per backend.")] = False,
) -> None:
    """Terminate leftover pods."""
    with errors_to_exit_codes(as_json=as_json):
        from ..config import load_settings
        from ..storage import parse_age
        from .output import emit_json, out

        age = parse_age(older_than)
        settings = load_settings()
        for spec in _pod_backends():
            report = spec.hook("cleanup")(settings, age, dry_run, everything=everything)
            if as_json:
                emit_json(report.model_dump(mode="json"))
            else:
                verb = "would terminate" if dry_run else "terminated"
                out.print(f"{spec.name}: {verb} {report.removed} pod(s); {report.kept} kept")
