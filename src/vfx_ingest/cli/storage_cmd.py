"""``vfx-ingest storage``: the object storage remote runs use."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def storage() -> None:
    """Object storage of remote runs: remove objects past their retention."""


@app.command(
    "gc",
    epilog="Examples:\n\n  vfx-ingest storage gc --older-than 7d\n\n"
    "  vfx-ingest storage gc --older-than 12h --dry-run --json\n\n"
    "Removes every object under s3.prefix (uploaded clips and passes, leftover job\n"
    "mailboxes) last written before the cutoff. A later run uploads again what it needs.",
)
def gc(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age: 90s, 30m, 12h, 7d, 2w.")
    ] = "7d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Remove our stored objects older than the retention period."""
    with errors_to_exit_codes(as_json=as_json):
        from ..config import load_settings
        from ..storage import Store, parse_age
        from .output import emit_json, out

        age = parse_age(older_than)
        settings = load_settings()
        report = Store(settings.s3).gc(age, dry_run=dry_run)
        if as_json:
            emit_json(report)
            return
        verb = "would remove" if dry_run else "removed"
        where = f"s3://{settings.s3.bucket}/{settings.s3.prefix}"
        out.print(
            f"{verb} {report.removed} objects ({report.bytes / 1e6:.1f} MB) older than "
            f"{older_than} from {where}; {report.kept} kept"
        )
