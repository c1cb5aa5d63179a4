"""The ``vfx-ingest`` command line.

Start-up imports typer and nothing else of ours: the root lists commands from the table
below, and a command's module (and the library behind it) is imported only when that
command runs or shows its own help. ``vfx-ingest --help`` stays fast however heavy the
stages get (benchmarks/startup.py).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__

# name -> (module with a `command` or `app`, one-line help, help panel)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "vfx_ingest.cli.run_cmd",
        "Run stages on a clip and write the passes into its shot folder.",
        "Shots",
    ),
    "status": (
        "vfx_ingest.cli.status_cmd",
        "Show a shot's source, frames and stage records (stale ones marked).",
        "Shots",
    ),
    "export": (
        "vfx_ingest.cli.export_cmd",
        "Regenerate a pass's exports from the shot (camera: .chan, .nk, USD, nerfstudio).",
        "Shots",
    ),
    "cost": (
        "vfx_ingest.cli.cost_cmd",
        "Estimate a clip's cost per backend and GPU before it runs; list the prices.",
        "Shots",
    ),
    "stages": (
        "vfx_ingest.cli.stages_cmd",
        "List the stages: what each needs and produces, its device and models.",
        "Info",
    ),
    "models": (
        "vfx_ingest.cli.models_cmd",
        "Download, verify and lock model weights.",
        "Info",
    ),
    "deploy": (
        "vfx_ingest.cli.deploy_cmd",
        "Deploy a remote backend's workers (its endpoint, app or image).",
        "Remote",
    ),
    "storage": (
        "vfx_ingest.cli.storage_cmd",
        "What remote runs keep in the cloud: list it, remove what is past its retention.",
        "Remote",
    ),
    "pods": (
        "vfx_ingest.cli.pods_cmd",
        "Pods made by runs: list them, remove leftovers.",
        "Remote",
    ),
    "worker": (
        "vfx_ingest.cli.worker_cmd",
        "Run a worker here: a backend's local endpoint, for development.",
        "Remote",
    ),
    "ui": (
        "vfx_ingest.cli.ui_cmd",
        "Browse shots, flip through their passes, start and watch runs, in a browser.",
        "Shots",
    ),
    "config": (
        "vfx_ingest.cli.config_cmd",
        "Show the configuration and where it comes from.",
        "Info",
    ),
}


class _LazyRoot(TyperGroup):
    """Lists commands from ``COMMANDS`` and imports one only when it is resolved."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        _, short_help, panel = COMMANDS[cmd_name]
        # A stand-in carrying the help line, so listing commands imports nothing.
        return TyperCommand(name=cmd_name, help=short_help, rich_help_panel=panel)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, _, rest = super().resolve_command(ctx, args)
        return name, load_command(name), rest

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from .root_help import render

        render(self, ctx, COMMANDS)

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Usage errors (a bad option value, a missing argument) become one stderr line
        and exit 2, like every other bad input, instead of click's boxed panel."""
        import sys

        standalone = kwargs.pop("standalone_mode", True)
        try:
            code = super().main(args, *rest, standalone_mode=False, **kwargs)
        except typer.Abort:
            code = 1
        except Exception as exc:
            if not standalone or not _is_click_error(exc):
                raise
            from .output import usage_error

            code = usage_error(exc, sys.argv[1:] if args is None else list(args))
        if not standalone:
            return code
        raise SystemExit(code if isinstance(code, int) else 0)


def _is_click_error(exc: BaseException) -> bool:
    """True for click's own exceptions (typer may vendor click, so match by name)."""
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__)


def load_command(name: str) -> Any:
    from .help import polish

    module = importlib.import_module(COMMANDS[name][0])
    return polish(typer.main.get_command(module.app))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vfx-ingest {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=_LazyRoot,
    name="vfx-ingest",
    help="A clip goes in; a shot folder of VFX-ready passes comes out.\n\n"
    "Examples:\n"
    "  vfx-ingest run clip.mp4\n"
    "  vfx-ingest run clip.mp4 --stages ingest --max-size 1920 --json\n"
    "  vfx-ingest cost clip.mp4 --stages depth\n"
    "  vfx-ingest status clip/\n"
    "  vfx-ingest deploy --help      (the remote backends)\n"
    "  vfx-ingest run --help         (every stage's and backend's options)\n\n"
    "Exit codes: 0 success, 1 a stage failed, 2 usage or bad input, 130 interrupted.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """A clip goes in; a shot folder of VFX-ready passes comes out."""


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`, a container stopping) takes the same path as Ctrl-C:
    # the running stage is recorded as interrupted and cloud resources are released.
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(prog_name="vfx-ingest")
    except KeyboardInterrupt:
        # A second stop (or one a native library re-raised) after the first was handled.
        raise SystemExit(130) from None
