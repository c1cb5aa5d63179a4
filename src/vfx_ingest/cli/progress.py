"""Show a run's events: rich progress bars for people, JSON lines for machines.

Bars only when stderr is a terminal; piped or redirected, a person's log gets one line per
stage instead of redraw codes.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..camera.cameras_json import quality_line
from ..job import Event, ProgressEvent, StageEvent
from ..manifest import StageRecord
from .output import emit_json, err


def _summary(record: StageRecord | None, *, cached: bool) -> str:
    """``(1001-1096, 12.3 s)``; for a cached stage the time is the earlier run's, said so
    (the cache check itself takes no time worth showing)."""
    if record is None:
        return ""
    parts = []
    if record.frames:
        parts.append(record.frames)
    if record.wall_s is not None and record.status == "done":
        parts.append(
            f"made in {record.wall_s:.1f} s earlier" if cached else f"{record.wall_s:.1f} s"
        )
    if quality := quality_line(record.stats):  # a camera solve: how good it is
        parts.append(quality)
    return f" ({', '.join(parts)})" if parts else ""


class LiveDisplay:
    """A display that owns a rich ``Progress`` and is entered and left with it."""

    progress: Progress

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)


class HumanProgress(LiveDisplay):
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = err.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not self.live,
        )
        self.tasks: dict[str, TaskID] = {}
        self.transfers: dict[tuple[str, str], TaskID] = {}
        self.lock = threading.Lock()  # remote runs report from transfer and chunk threads

    def __call__(self, event: Event) -> None:
        with self.lock:
            self._show(event)

    def _show(self, event: Event) -> None:
        if isinstance(event, ProgressEvent):
            if event.unit == "bytes":
                self._transfer(event)
                return
            # A stage's "note: ..." (e.g. a non-commercial licence) is worth a line of its own.
            note = event.message.startswith("note: ")
            if note and not self.quiet:
                line = escape(f"{event.stage}: {event.message}")
                self.progress.console.print(f"[yellow]{line}[/]")
            task = self.tasks.get(event.stage)
            if task is not None:
                # A stage's phase ("registering 40/96") when it says one, else its frames.
                amount = (
                    event.message
                    if event.message and not note
                    else f"{event.done}/{event.total} frames"
                )
                self.progress.update(
                    task, completed=event.done, total=event.total or None, amount=amount
                )
            return
        self._stage(event)

    def _transfer(self, event: ProgressEvent) -> None:
        """Uploads and downloads of remote runs: one bar each, in bytes."""
        key = (event.stage, event.message)
        amount = f"{decimal(event.done)}/{decimal(event.total)}"
        task = self.transfers.get(key)
        if task is None:
            task = self.progress.add_task(f"{event.stage} {event.message}", amount=amount)
            self.transfers[key] = task
        self.progress.update(task, completed=event.done, total=event.total or None, amount=amount)
        if event.total and event.done >= event.total:
            self.progress.remove_task(self.transfers.pop(key))

    def _stage(self, event: StageEvent) -> None:
        if event.status == "started":
            self.tasks[event.stage] = self.progress.add_task(event.stage, total=None, amount="")
            return
        task = self.tasks.pop(event.stage, None)
        if task is not None:
            self.progress.remove_task(task)
        if self.quiet or event.status in ("failed", "interrupted"):
            return  # the failure is reported once, as the command's error line
        mark = "[green]✓[/]" if event.status == "done" else "[dim]✓[/]"
        word = "done" if event.status == "done" else "cached"
        summary = _summary(event.record, cached=event.status != "done")
        self.progress.console.print(f"{mark} {event.stage}: {word}{summary}")
        # A stage may finish with things to check (e.g. the camera solve's interpolated frames).
        for warning in event.record.stats.get("warnings", []) if event.record else []:
            self.progress.console.print(f"[yellow]![/] {event.stage}: {escape(warning)}")


class JsonProgress:
    """JSON lines on stdout; progress thinned to ~10 per second per stage (and per
    transfer), the last one always kept."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.last: dict[tuple[str, str, str], float] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, ProgressEvent):
                key = (event.stage, event.unit, event.message if event.unit == "bytes" else "")
                now = time.monotonic()
                final = event.total and event.done >= event.total
                noted = event.message.startswith("note: ")  # never thinned away
                if not (final or noted) and now - self.last.get(key, 0.0) < self.interval:
                    return
                self.last[key] = now
            emit_json(event)
