"""``vfx-ingest deploy``: build and register remote workers."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)

MODAL_EXAMPLES = (
    "Examples:\n\n"
    "  modal token new                         # once: Modal's own login\n\n"
    "  vfx-ingest deploy modal\n\n"
    "  vfx-ingest deploy modal --gpu L40S      # GPU stages on L40S, not the cheapest fit\n\n"
    "  vfx-ingest deploy modal --json | jq -r '.classes[].functions[]'\n\n"
    "Builds this package's wheel and an image with it (Python as here, torch from PyPI's "
    "CUDA builds when a stage uses it), the volumes vfx-models and vfx-shots, and one class "
    "per GPU type, and deploys the app (modal.app_name, default vfx-ingest).\n\n"
    "Then: `vfx-ingest models sync --to modal`, and `vfx-ingest run clip.mp4 --backend "
    "modal`.\n\n"
    "Exit codes: 0 deployed, 1 the deploy failed, 2 no token or bad settings."
)


@app.callback()
def deploy() -> None:
    """Deploy remote workers: the Modal app."""


@app.command("modal", epilog=MODAL_EXAMPLES)
def modal_(
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", help="GPU for GPU stages, e.g. L40S or H100:2 (modal.gpu)."),
    ] = None,
    logs: Annotated[
        bool, typer.Option("--logs", help="Show Modal's image build output (on stdout).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Build the Modal app from the stages and deploy it; print its app and functions."""
    with errors_to_exit_codes(as_json=as_json):
        from ..backends.modal.deploy import deploy_modal
        from ..config import load_settings
        from .output import emit_json, out
        from .tables import modal_deploy_table

        settings = load_settings(**({"modal": {"gpu": gpu}} if gpu else {}))
        report = deploy_modal(settings, logs=logs and not as_json)
        if as_json:
            emit_json(report)
            return
        out.print(modal_deploy_table(report))
