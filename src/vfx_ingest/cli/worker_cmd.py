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
    """Serve a backend-compatible endpoint that runs jobs on this machine."""
    with errors_to_exit_codes():
        import ipaddress

        from ..backends import hook_of
        from ..errors import BadInput, StageFailed
        from .output import err

        serve_hook = hook_of(api, "serve", "local endpoint")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:  # a host name: it may resolve anywhere
            loopback = False
        if not loopback and not allow_remote:
            raise BadInput(
                f"--host {host} would let other machines run jobs here",
                fix="Bind 127.0.0.1, or pass --allow-remote if that is what you want",
            )
        endpoint = serve_hook(
            host=host,
            port=port,
            workers=workers,
            execution_timeout_s=execution_timeout,
            api_key=token,
            storage_url=storage_url,
        )
        if not loopback:
            err.print(f"warning: serving on {host}: whoever reaches it with the token runs jobs")
        err.print(endpoint.describe())
        try:
            endpoint.serve_forever()
        finally:
            endpoint.stop(timeout=5 if endpoint.failure else 30)
        if endpoint.failure:
            raise StageFailed(endpoint.failure, fix="Start `vfx-ingest worker serve` again")
