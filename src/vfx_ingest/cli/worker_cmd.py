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
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="VFX_INGEST_SERVE_TOKEN",
            help="Bearer token clients must send (default: a new one, printed).",
        ),
    ] = None,
    storage_url: Annotated[
        str | None,
        typer.Option(
            "--storage-url",
            help="The only origin jobs may name objects on (default: the s3 settings').",
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow binding an address other than loopback."),
    ] = False,
) -> None:
    """Serve a RunPod-serverless-compatible endpoint that runs jobs on this machine."""
    with errors_to_exit_codes():
        import threading

        from ..backends.runpod.serve import LocalEndpoint, is_loopback, storage_origins
        from ..config import load_settings
        from ..errors import BadInput, StageFailed
        from .output import err

        if not is_loopback(host) and not allow_remote:
            raise BadInput(
                f"--host {host} would let other machines run jobs here",
                fix="Bind 127.0.0.1, or pass --allow-remote if that is what you want",
            )
        settings = load_settings()
        recycle = threading.Event()
        endpoint = LocalEndpoint(
            host=host,
            port=port,
            workers=workers,
            execution_timeout_s=execution_timeout,
            api_key=token,
            cancel_grace_s=settings.runpod.cancel_grace_s,
            storage_origins=[storage_url] if storage_url else storage_origins(settings),
            on_recycle=lambda: (
                recycle.set(),
                threading.Thread(target=endpoint.server.shutdown).start(),
            ),
        )
        if not is_loopback(host):
            err.print(
                f"warning: serving on {host}: whoever reaches it with the token can run jobs here"
            )
        err.print(
            f"RunPod-compatible endpoint ({api}) on {endpoint.url}: set runpod.api_url = "
            f'"{endpoint.url}" and runpod.endpoint_id = "local". Ctrl-C stops it.'
        )
        if token is None:
            err.print(f"Its token (set RUNPOD_API_KEY to it): {endpoint.api_key}", soft_wrap=True)
        try:
            endpoint.serve_forever()
        finally:
            endpoint.stop(timeout=5 if recycle.is_set() else 30)
        if recycle.is_set():
            raise StageFailed(
                "a cancelled stage did not stop within runpod.cancel_grace_s; the worker exits "
                "so that it ends (RunPod recycles such a worker)",
                fix="Start `vfx-ingest worker serve` again",
            )
