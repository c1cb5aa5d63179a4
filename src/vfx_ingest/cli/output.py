"""How commands talk: data on stdout (JSON lines with --json), people on stderr.

Errors are one line on stderr, ``error: <what>``, and the exit code says what kind
(see errors.py). With --json, stdout carries only JSON objects, one per line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, VfxIngestError

# soft_wrap: an error stays one line however narrow the terminal.
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False)
if not out.is_terminal:
    # Piped tables go to logs and files: wide enough that no cell is cut short.
    out.width = 200


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
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), EXIT_BAD_INPUT, as_json)


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
