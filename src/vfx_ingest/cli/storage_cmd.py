"""``vfx-ingest storage``: what remote runs leave in the cloud, through each backend's
``resources`` (list) and ``cleanup`` (gc) hooks."""

from __future__ import annotations

from typing import Annotated

import typer

from ..backends import with_hook
from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)

CLEANERS = [spec.name for spec in with_hook("cleanup")]
LISTERS = [spec.name for spec in with_hook("resources")]


@app.callback()
def storage() -> None:
    """What remote runs keep in the cloud: list it, remove what is past its retention."""


@app.command(
    "list",
    epilog="Examples:\n\n  vfx-ingest storage list\n\n"
    + "".join(f"  vfx-ingest storage list --backend {name} --json\n\n" for name in LISTERS)
    + "One row per app, endpoint, volume or stored shot a backend has in the cloud.",
)
def list_(
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help=f"Only this backend ({', '.join(LISTERS)})."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """List what the backends have running or stored in the cloud."""
    with errors_to_exit_codes(as_json=as_json):
        from ..backends import hooks_of
        from ..config import load_settings
        from .output import emit_json, out
        from .tables import resources_table

        settings = load_settings()
        rows = []
        for hook in hooks_of(backend, "resources", "cloud resources to list"):
            rows += hook(settings)
        if as_json:
            for row in rows:
                emit_json(row)
        else:
            out.print(resources_table(rows))


@app.command(
    "gc",
    epilog="Examples:\n\n  vfx-ingest storage gc --older-than 7d\n\n"
    "  vfx-ingest storage gc --older-than 12h --dry-run --json\n\n"
    + "".join(f"  vfx-ingest storage gc --backend {name}\n\n" for name in CLEANERS)
    + "Each backend removes what its runs stored (uploaded clips and passes, leftover job\n"
    "mailboxes) last written before the cutoff. A later run uploads again what it needs.",
)
def gc(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age: 90s, 30m, 12h, 7d, 2w.")
    ] = "7d",
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", "-b", help=f"Only this backend's storage ({', '.join(CLEANERS)})."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per backend.")] = False,
) -> None:
    """Remove our stored objects older than the retention period."""
    with errors_to_exit_codes(as_json=as_json):
        from ..backends import hooks_of
        from ..config import load_settings
        from ..storage import parse_age
        from .output import emit_json, out

        age = parse_age(older_than)
        settings = load_settings()
        for hook in hooks_of(backend, "cleanup", "stored objects to clean up"):
            report = hook(settings, age, dry_run)
            if as_json:
                emit_json(report)
            else:
                out.print(f"{report.human()} (older than {older_than})")
