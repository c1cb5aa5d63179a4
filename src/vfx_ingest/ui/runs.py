"""Runs started from the UI: ``vfx-ingest run ... --json`` in a subprocess.

The CLI stays the one way to run: the UI builds its command line, reads its JSON event
lines, keeps the last stderr line as the error to show (the CLI's own one-line error), and
cancels with SIGINT exactly as Ctrl-C would (the run exits 130 and resumes next time).
Each run has its own process group, so a cancel reaches every process it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .. import atomic
from ..errors import EXIT_INTERRUPTED
from .roots import UI_DIR

CANCEL_WAIT_S = 30.0


class RunOptions(BaseModel):
    """What the run page submits (checked against the roots before it gets here)."""

    clip: str
    stages: list[str] = Field(default_factory=lambda: ["ingest"])
    backend: str = "local"
    gpu: str | None = None
    max_cost: float | None = Field(None, ge=0)


def cli_command(args: list[str]) -> list[str]:
    """``vfx-ingest <args>`` with this interpreter (the same install as the UI)."""
    return [sys.executable, "-m", "vfx_ingest", *args]


def run_args(options: RunOptions, clip: Path, shot: Path) -> list[str]:
    args = ["run", str(clip), "--shot", str(shot), "--stages", ",".join(options.stages)]
    args += ["--backend", options.backend, "--json"]
    if options.gpu:
        args += ["--gpu", options.gpu]
    if options.max_cost is not None:
        args += ["--max-cost", f"{options.max_cost:g}"]
    return args


def error_line(stderr: str) -> str | None:
    """The CLI's one-line error (``error: ...``), without its prefix."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return None


class Run:
    def __init__(self, options: RunOptions, clip: Path, shot: Path) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.options = options
        self.clip = clip
        self.shot = shot
        self.args = run_args(options, clip, shot)
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self.exit_code: int | None = None
        self.cancelled = False
        self.started = time.time()
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            cli_command(self.args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: cancel reaches all of it
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._stderr = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr.start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def state(self) -> str:
        if self.exit_code is None:
            return "running"
        if self.exit_code == 0:
            return "done"
        return "cancelled" if self.exit_code == EXIT_INTERRUPTED else "failed"

    def stage_states(self) -> dict[str, str]:
        """Each stage's last status in this run's events (started, cached, done, failed)."""
        return {e["stage"]: e["status"] for e in self.events if e.get("type") == "stage"}

    def error(self) -> str | None:
        return error_line("\n".join(self.stderr))

    def events_from(self, index: int, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """Events after ``index`` (waiting up to ``timeout`` for one), and whether it ended."""
        with self.changed:
            if len(self.events) <= index and self.exit_code is None:
                self.changed.wait(timeout)
            return self.events[index:], self.exit_code is not None

    def cancel(self) -> None:
        """SIGINT to the run's process group (Ctrl-C); SIGKILL if it is still there later."""
        if self.exit_code is not None:
            return
        self.cancelled = True
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(CANCEL_WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait()

    def wait(self, timeout: float | None = None) -> int | None:
        with self.changed:
            self.changed.wait_for(lambda: self.exit_code is not None, timeout)
            return self.exit_code

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # --json promises JSON lines; anything else is not an event
            with self.changed:
                self.events.append(event)
                self.changed.notify_all()
        code = self.process.wait()
        self._stderr.join()
        self._write_log(code)
        with self.changed:
            self.exit_code = code
            self.events.append(
                {"type": "exit", "exit_code": code, "state": self.state, "error": self.error()}
            )
            self.changed.notify_all()

    def _write_log(self, code: int) -> None:
        """The run's command, events and stderr, beside the shot (shown on its page)."""
        if not self.shot.is_dir():
            return  # bad input stopped the run before it made the shot folder
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started))
        lines = ["$ vfx-ingest " + " ".join(self.args), *map(json.dumps, self.events)]
        lines += [*self.stderr, f"exit {code}"]
        target = self.shot / UI_DIR / "logs" / f"{stamp}-{self.id}.log"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(target, "\n".join(lines) + "\n")


class RunManager:
    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.lock = threading.Lock()

    def start(self, options: RunOptions, clip: Path, shot: Path) -> Run:
        run = Run(options, clip, shot)
        with self.lock:
            self.runs[run.id] = run
        return run

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def latest_for(self, shot: Path) -> Run | None:
        with self.lock:
            matching = [r for r in self.runs.values() if r.shot == shot]
        return max(matching, key=lambda r: r.started) if matching else None

    def cancel_all(self) -> None:
        """At server shutdown: no run outlives the UI that started it."""
        with self.lock:
            running = [r for r in self.runs.values() if r.exit_code is None]
        for run in running:
            run.cancel()


def cli_json(args: list[str], timeout: float = 60.0) -> tuple[list[dict[str, Any]], str | None]:
    """Run a ``vfx-ingest ... --json`` command to its end: its JSON lines and its error."""
    done = subprocess.run(
        cli_command(args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = []
    for line in done.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines, (error_line(done.stderr) if done.returncode else None)
