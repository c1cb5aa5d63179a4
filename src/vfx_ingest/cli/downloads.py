"""Show a `models sync`: a progress bar per file for people, JSON lines for machines.

Bars only when stderr is a terminal; piped, people get one line per model. Events arrive
from download threads, so both displays take a lock before writing.
"""

from __future__ import annotations

import threading
import time

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..models.sync import FileProgress, ModelResult, SyncEvent
from .output import emit_json, err
from .progress import LiveDisplay

MARKS = {
    "cached": "[dim]✓[/]",
    "downloaded": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "manual": "[yellow]![/]",
}


class HumanDownloads(LiveDisplay):
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal or quiet,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self.lock = threading.Lock()

    def __call__(self, event: SyncEvent) -> None:
        with self.lock:
            if isinstance(event, FileProgress):
                key = (event.model, event.file)
                if key not in self.tasks:
                    self.tasks[key] = self.progress.add_task(f"{event.model}/{event.file}")
                self.progress.update(self.tasks[key], completed=event.done, total=event.total)
                return
            for key in [k for k in self.tasks if k[0] == event.id]:
                self.progress.remove_task(self.tasks.pop(key))
            if self.quiet or event.status in ("failed", "manual"):
                return  # failures are reported once, by the command, with what to do
            where = f" ({event.folder})" if event.folder else ""
            self.progress.console.print(f"{MARKS[event.status]} {event.id}: {event.status}{where}")


class JsonDownloads:
    """JSON lines on stdout; progress thinned to ~5 per second per file."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.last: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> JsonDownloads:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: SyncEvent) -> None:
        with self.lock:
            if isinstance(event, FileProgress):
                key, now = (event.model, event.file), time.monotonic()
                final = event.total is not None and event.done >= event.total
                if not final and now - self.last.get(key, 0.0) < self.interval:
                    return
                self.last[key] = now
            emit_json(event)


def report_failures(failed: list[ModelResult]) -> None:
    """Every failed model's line but the last on stderr; the caller raises the last."""
    for result in failed[:-1]:
        err.print(f"[bold red]error:[/] {escape(result.error or '')}")
