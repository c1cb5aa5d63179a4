"""``vfx-ingest status``: what a shot holds and what ran on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False)


@app.command(
    "status",
    epilog="Examples:\n\n  vfx-ingest status shots/sh010\n\n"
    "  vfx-ingest status shots/sh010 --json | jq .stages.ingest.wall_s",
)
def status(
    shot: Annotated[Path, typer.Argument(help="The shot folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="The manifest as JSON.")] = False,
) -> None:
    """Show a shot's source, frames and stage records (stale ones marked)."""
    with errors_to_exit_codes(as_json=as_json):
        from ..errors import BadInput
        from ..shot import ShotFolder
        from .output import emit_json, out
        from .tables import status_table

        folder = ShotFolder(shot)
        manifest = folder.load_manifest()
        if manifest is None:
            raise BadInput(
                "not a shot folder (no shot.json)",
                where=str(shot),
                fix="Give a folder made by `vfx-ingest run`",
            )
        # What stands now: a run that was killed shows as interrupted, a pass a stopped
        # swap set aside is named (the next run repairs both).
        manifest, notes = folder.observed(manifest)
        if as_json:
            emit_json(manifest)
            return
        if manifest.source is not None:
            p = manifest.source.probe
            out.print(
                f"source  {manifest.source.path}\n"
                f"        {p.codec} {p.display_width}x{p.display_height} {p.pix_fmt} "
                f"{float(p.frame_rate):.3f} fps, {p.frame_count} frames"
                + (f", timecode {p.timecode}" if p.timecode else "")
            )
        if manifest.frames is not None:
            f = manifest.frames
            out.print(f"frames  {f.frame_set} ({f.count}), {f.width}x{f.height}")
        out.print(status_table(manifest, folder.root))
        for note in notes:
            out.print(f"note: {note}")
