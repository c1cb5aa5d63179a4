"""``vfx-ingest stages``: the stage registry as a table, or one stage's options."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False)


@app.command(
    "stages",
    epilog="Examples:\n\n  vfx-ingest stages\n\n  vfx-ingest stages ingest\n\n"
    "  vfx-ingest stages --json",
)
def stages(
    name: Annotated[str | None, typer.Argument(help="Show this stage's options.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """List the stages: what each needs and produces, its device and models."""
    with errors_to_exit_codes(as_json=as_json):
        from ..stages import REGISTRY, get_stage
        from .output import emit_json, out
        from .tables import stage_options_table, stages_table

        if name is not None:
            spec = get_stage(name)
            if as_json:
                emit_json({"stage": spec.name, "params": spec.params.model_json_schema()})
            else:
                out.print(stage_options_table(spec))
            return
        if as_json:
            for spec in REGISTRY.values():
                emit_json(
                    {
                        "stage": spec.name,
                        "version": spec.version,
                        "summary": spec.summary,
                        "needs": list(spec.needs),
                        "uses": list(spec.uses),
                        "produces": list(spec.produces),
                        "device": spec.device.model_dump(),
                        "models": list(spec.models),
                        "chunkable": spec.chunking is not None,
                    }
                )
        else:
            out.print(stages_table(REGISTRY.values()))
