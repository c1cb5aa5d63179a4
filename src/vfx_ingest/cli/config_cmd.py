"""``vfx-ingest config``: the effective configuration and where each value comes from."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def config() -> None:
    """Show the configuration and where it comes from."""


@app.command(
    "show", epilog="Examples:\n\n  vfx-ingest config show\n\n  vfx-ingest config show --json"
)
def show(
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Every setting, its value and its source; secrets are never shown."""
    with errors_to_exit_codes(as_json=as_json):
        from ..config import check_stage_params, explain, load_settings
        from ..stages import REGISTRY
        from .output import emit_json, out
        from .tables import settings_table

        settings = load_settings()
        check_stage_params(settings, {name: spec.params for name, spec in REGISTRY.items()})
        rows = explain(settings)
        if as_json:
            emit_json({row.key: {"value": row.value, "source": row.source} for row in rows})
        else:
            out.print(settings_table(rows))


@app.command("path", epilog="Examples:\n\n  $EDITOR $(vfx-ingest config path)")
def path() -> None:
    """Print the user config file's path (it may not exist yet)."""
    from ..config import user_config_path

    typer.echo(user_config_path())
