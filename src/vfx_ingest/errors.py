"""Errors the CLI turns into one line on stderr and an exit code.

Every error says what went wrong, where, and what to do about it, so that the one line a
user (or a CI log) sees is enough to act on.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

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


class DiskFull(VfxIngestError):
    """A filesystem ran out of space (or quota) while writing."""


def disk_full(exc: OSError) -> DiskFull | None:
    """The one line for a write that found no space: which filesystem filled up (its mount
    point and what is left) and the file being written; None for any other OSError."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    target = Path(exc.filename) if isinstance(exc.filename, str) else None
    what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
    if target is None:
        return DiskFull(what, fix="Free space on the disk of the shot folder and run again")
    mount = _mount_point(target.parent)
    try:
        st = os.statvfs(mount)
        free, size = st.f_bavail * st.f_frsize / 1e6, st.f_blocks * st.f_frsize / 1e6
        room = f", {free:.1f} MB free of {size:.1f} MB"
    except OSError:
        room = ""
    return DiskFull(
        f"{what}: the filesystem mounted at {mount} is full{room}",
        where=str(target.parent),
        fix="Free space there and run again: the work already staged is kept and reused "
        "(or choose a shot folder on a disk with room, --shot)",
    )


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    while path != path.parent and path.parent.stat().st_dev == path.stat().st_dev:
        path = path.parent
    return path
