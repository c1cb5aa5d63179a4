"""``vfx-ingest export``: regenerate a finished pass's exports without running it again."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)

CAMERA_EXAMPLES = """
Examples:

  vfx-ingest export camera shots/sh010 --format nk          # rewrite camera/camera.nk

  vfx-ingest export camera shots/sh010 --format all --out /tmp/cams

  vfx-ingest export camera shots/sh010 --format chan --out - > sh010.chan

Formats: json (cameras.json), nerfstudio (transforms.json), chan (Nuke .chan),
nk (Nuke Camera node), usd (camera.usda), ply (points.ply), all.
"""


@app.callback()
def export() -> None:
    """Regenerate a pass's exports from the shot (camera: .chan, .nk, USD, nerfstudio)."""


@app.command("camera", epilog=CAMERA_EXAMPLES)
def camera(
    shot: Annotated[Path, typer.Argument(help="The shot folder.")],
    fmt: Annotated[
        list[str], typer.Option("--format", "-f", help="Format(s) to write (repeatable).")
    ] = ["all"],  # noqa: B006 - typer reads the default, it is never mutated
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Folder to write to, or - for stdout (one file)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
) -> None:
    """Regenerate camera exports from camera/sparse/ (no new solve).

    Written into the shot's camera/ folder unless --out says otherwise; the shot's record
    is updated so the pass stays verified.
    """
    with errors_to_exit_codes(as_json=as_json):
        from ..camera.exports import FORMATS
        from ..errors import BadInput
        from ..stages import camera_reexport as reexport
        from .output import emit_json

        known = [*FORMATS, "all"]
        unknown = [f for f in fmt if f not in known]
        if unknown:
            raise BadInput(f"unknown format {unknown[0]!r}", fix=f"Choose from {', '.join(known)}")
        formats = list(FORMATS) if "all" in fmt else list(dict.fromkeys(fmt))
        if out == "-":
            if len(formats) != 1:
                raise BadInput("--out - writes one format to stdout", fix="Give one --format")
            files = reexport.render(shot, formats[0])
            sys.stdout.buffer.write(files[FORMATS[formats[0]].filename])
            sys.stdout.flush()
            return
        written = reexport.export(shot, formats, Path(out) if out else None)
        for path in written:
            if as_json:
                emit_json({"type": "file", "path": str(path)})
            else:
                sys.stdout.write(f"{path}\n")
