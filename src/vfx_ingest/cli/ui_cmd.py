"""``vfx-ingest ui``: the local dashboard (docs/ui.md). FastAPI and uvicorn load only here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


@app.command(
    "ui",
    epilog="Examples:\n\n  vfx-ingest ui                          # shots under this folder\n\n"
    "  vfx-ingest ui --root shots --root /mnt/show/plates --no-browser\n\n"
    "  vfx-ingest ui --host 0.0.0.0 --port 9000   # reachable from other machines (warned)",
)
def ui(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8470,
    root: Annotated[
        list[Path] | None,
        typer.Option("--root", help="A folder of shots and clips (repeatable; default: here)."),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL without opening a browser.")
    ] = False,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; other than 127.0.0.1 is warned."),
    ] = "127.0.0.1",
) -> None:
    """Browse shots, flip through their passes, start and watch runs, in a browser.

    Prints a URL with an access token (as Jupyter does); every request needs it.
    """
    with errors_to_exit_codes():
        import secrets
        import socket
        import sys

        from ..errors import BadInput
        from .output import err

        roots = root or [Path()]
        for folder in roots:
            if not folder.is_dir():
                raise BadInput(
                    "not a folder", where=str(folder), fix="Give existing --root folders"
                )
        try:
            from ..ui.app import create_app, run_forever
        except ImportError as exc:
            raise BadInput(
                f"the dashboard needs {exc.name}, which is not installed",
                fix="pip install 'vfx-ingest[ui]'",
            ) from exc

        hosts = set(LOCAL_HOSTS)
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(
                f"[yellow]warning:[/] listening on {host}: anyone who can reach this machine "
                "and has the token can browse the roots and start runs"
            )
            hosts |= {host, socket.gethostname(), socket.getfqdn()}
        if port == 0:
            with socket.socket() as probe:  # a free port, so the URL can be printed first
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        token = secrets.token_urlsafe(24)
        app_ = create_app(roots, token=token, hosts=hosts, cookie=f"vfx_ingest_ui_{port}")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{port}/?token={token}"
        sys.stdout.write(f"{url}\n")
        sys.stdout.flush()
        err.print(f"vfx-ingest ui: serving {', '.join(str(r) for r in roots)}; Ctrl-C stops it")
        if not no_browser:
            import webbrowser

            webbrowser.open(url)
        run_forever(app_, host, port)
