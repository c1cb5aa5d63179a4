"""``vfx-ingest worker``: run a worker here, behind a backend's API (its ``serve`` hook)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..backends import with_hook
from .output import errors_to_exit_codes

APIS = [spec.name for spec in with_hook("serve")]

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def worker() -> None:
    """Run a worker here: a backend's local endpoint, for development."""


@app.command(
    "serve",
    epilog="Examples:\n\n"
    + "".join(f"  vfx-ingest worker serve --api {name} --port 8000\n\n" for name in APIS)
    + "Serves the backend's job routes and runs its real handler on background threads;\n"
    "it prints the settings that point `run` at it. Ctrl-C stops it and cancels its jobs.",
)
def serve(
    api: Annotated[
        str, typer.Option("--api", help=f"Which backend's API to serve ({', '.join(APIS)}).")
    ] = APIS[0],
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free port).")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at once.")] = 1,
    execution_timeout: Annotated[
        float | None,
        typer.Option("--execution-timeout", help="Seconds before a job is TIMED_OUT."),
    ] = None,
) -> None:
    """Serve a backend-compatible endpoint that runs jobs on this machine."""
    with errors_to_exit_codes():
        from ..backends import hook_of
        from .output import err

        endpoint = hook_of(api, "serve", "local endpoint")(
            host=host, port=port, workers=workers, execution_timeout_s=execution_timeout
        )
        err.print(f"{endpoint.describe()} Ctrl-C stops it.")
        try:
            endpoint.serve_forever()
        finally:
            endpoint.stop()
