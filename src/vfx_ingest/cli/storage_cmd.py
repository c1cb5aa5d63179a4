"""``vfx-ingest storage``: what remote runs leave in the cloud, through each backend's
``cleanup`` hook."""

from __future__ import annotations

from typing import Annotated

import typer

from ..backends import with_hook
from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)

CLEANERS = [spec.name for spec in with_hook("cleanup")]


@app.callback()
def storage() -> None:
    """Object storage of remote runs: remove objects past their retention."""


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
        from ..backends import backend_spec
        from ..config import load_settings
        from ..errors import BadInput
        from ..storage import parse_age
        from .output import emit_json, out

        age = parse_age(older_than)
        specs = [backend_spec(backend)] if backend else with_hook("cleanup")
        settings = load_settings()
        for spec in specs:
            hook = spec.hook("cleanup")
            if hook is None:
                raise BadInput(
                    f"backend {spec.name} stores nothing to clean up",
                    fix=f"Use --backend with one of: {', '.join(CLEANERS) or '(none)'}",
                )
            report = hook(settings, age, dry_run)
            if as_json:
                emit_json(report)
            else:
                out.print(f"{report.human()} (older than {older_than})")
