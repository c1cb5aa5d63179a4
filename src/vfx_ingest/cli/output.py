"""How commands talk: data on stdout (JSON lines with --json), people on stderr.

Errors are one line on stderr, ``error: <what>``, and the exit code says what kind
(see errors.py). With --json, stdout carries only JSON objects, one per line.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, VfxIngestError, disk_full

# soft_wrap: an error stays one line however narrow the terminal.
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False)
if not out.is_terminal:
    # Piped tables go to logs and files: wide enough that no cell is cut short.
    out.width = 200


def keep_stdout_for_json() -> None:
    """Native libraries (OpenBLAS, COLMAP) print to file descriptor 1 on their own, which
    would break a --json stream: our stdout moves to a private descriptor and fd 1 goes to
    stderr, with the human output. Only when stdout is the process's own fd 1 (not a
    capture in tests)."""
    try:
        if sys.stdout.fileno() != 1:
            return
    except (AttributeError, OSError, ValueError):
        return
    sys.stdout.flush()
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(private, "w", encoding="utf-8", buffering=1)


def emit_json(obj: Any) -> None:
    """One JSON object on one stdout line, flushed so pipes see it at once."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def errors_to_exit_codes(*, as_json: bool = False) -> Iterator[None]:
    """Turn our exceptions into one stderr line and the documented exit code."""
    try:
        yield
    except VfxIngestError as exc:
        _fail(exc.line(), exc.exit_code, as_json)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED, as_json)
    except ModuleNotFoundError as exc:
        # A command whose extra is not installed (a backend's deploy without its SDK).
        from ..extras import missing_module_error

        if (error := missing_module_error(exc)) is None:
            raise
        _fail(error.line(), error.exit_code, as_json)
    except OSError as exc:
        if (full := disk_full(exc)) is not None:
            _fail(full.line(), full.exit_code, as_json)
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), EXIT_BAD_INPUT, as_json)


def warn(line: str) -> None:
    """One warning line on stderr: the run went on, but something needs a look."""
    err.print(f"[bold yellow]warning:[/] {escape(line)}")


def usage_error(exc: Any, args: list[str]) -> int:
    """Print click's usage error ``exc`` as one line (and as JSON with --json); return its
    exit code. Asking for help without arguments printed the help already: nothing more."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return int(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    where = f"`{ctx.command_path} --help`" if ctx is not None else "`vfx-ingest --help`"
    what = " ".join(exc.format_message().split()).rstrip(".")
    line = f"{what}. See {where}"
    err.print(f"[bold red]error:[/] {escape(line)}")
    if "--json" in args:
        emit_json({"type": "error", "error": line, "exit_code": exc.exit_code})
    return int(exc.exit_code)


def _fail(line: str, code: int, as_json: bool) -> None:
    err.print(f"[bold red]error:[/] {escape(line)}")
    if as_json:
        emit_json({"type": "error", "error": line, "exit_code": code})
    raise typer.Exit(code)


class Say:
    """What backend hooks talk through (``backends.base.Say``): notes to stderr, lines for
    scripts to stdout; both silent with --json, where the hook's report is the output."""

    def __init__(self, *, json: bool) -> None:
        self.json = json

    def note(self, text: str) -> None:
        if not self.json:
            err.print(text)

    def echo(self, text: str) -> None:
        if not self.json:
            typer.echo(text)
