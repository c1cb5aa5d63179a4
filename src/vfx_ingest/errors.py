"""Errors the CLI turns into one line on stderr and an exit code.

Every error says what went wrong, where, and what to do about it, so that the one line a
user (or a CI log) sees is enough to act on.
"""

from __future__ import annotations

EXIT_STAGE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class VfxIngestError(Exception):
    """Base class: an expected failure with a one-line explanation."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}. {self.fix}" if self.fix else text


class BadInput(VfxIngestError):
    """The user asked for something that cannot work: bad clip, bad option, bad config."""

    exit_code = EXIT_BAD_INPUT


class ShotBusy(BadInput):
    """Another vfx-ingest process holds the shot folder."""


class StageFailed(VfxIngestError):
    """A stage started and did not finish; its record in shot.json holds the error."""
