"""``vfx-ingest worker``: run a worker here."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def worker() -> None:
    """Run a worker here: a local RunPod-compatible endpoint for development."""


@app.command(
    "serve",
    epilog="Examples:\n\n  vfx-ingest worker serve --api runpod --port 8000\n\n"
    "  # in another shell, with object storage configured (the s3 settings):\n"
    "  export VFX_INGEST_RUNPOD__API_URL=http://127.0.0.1:8000\n"
    "  export VFX_INGEST_RUNPOD__ENDPOINT_ID=local\n"
    "  vfx-ingest run clip.mp4 --backend runpod-serverless\n\n"
    "Serves RunPod's serverless routes (/run, /runsync, /status, /stream, /cancel,\n"
    "/health) and runs the real handler on background threads. Ctrl-C stops it and\n"
    "cancels its jobs.",
)
def serve(
    api: Annotated[Literal["runpod"], typer.Option("--api", help="Which API to serve.")] = "runpod",
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free port).")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at once.")] = 1,
    execution_timeout: Annotated[
        float | None,
        typer.Option("--execution-timeout", help="Seconds before a job is TIMED_OUT."),
    ] = None,
) -> None:
    """Serve a RunPod-serverless-compatible endpoint that runs jobs on this machine."""
    with errors_to_exit_codes():
        from ..backends.runpod.serve import LocalEndpoint
        from .output import err

        endpoint = LocalEndpoint(
            host=host, port=port, workers=workers, execution_timeout_s=execution_timeout
        )
        err.print(
            f"RunPod-compatible endpoint ({api}) on {endpoint.url}: set runpod.api_url = "
            f'"{endpoint.url}" and runpod.endpoint_id = "local". Ctrl-C stops it.'
        )
        try:
            endpoint.serve_forever()
        finally:
            endpoint.stop()
