"""Atomic file and directory updates: a reader never sees a half-written output.

Files are written next to their final name and renamed into place (rename is atomic on
POSIX within one filesystem). Only the manifest is fsynced: frame files live in a staging
folder until their stage completes, so a crash can at worst lose work, never corrupt a
pass that the manifest calls done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def remove_leftovers(folder: Path) -> int:
    """Delete temporary files a killed writer left under ``folder``; return how many."""
    leftovers = [p for p in folder.rglob(f".*{TEMP_MARK}*") if p.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def write_bytes(path: Path, data: bytes, *, fsync: bool = False, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either absent, old, or complete.

    A file that exists keeps its permissions (a 0600 file holding a secret stays 0600);
    a new one gets ``mode`` (default: 0666 less the umask). The temporary file has the
    final mode from its creation, so the data is never readable more widely."""
    tmp = _temp_sibling(path)
    try:
        existing = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        existing = None
    try:
        final = existing if existing is not None else mode
        # Created no wider than its final mode (0666 less the umask when none is set).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        fd = os.open(tmp, flags, 0o600 if final is not None else 0o666)
        with os.fdopen(fd, "wb") as f:
            if final is not None:
                os.fchmod(f.fileno(), final)
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            exc.filename = str(path)  # a failed write() names no file: say which (ENOSPC)
        raise


def write_text(path: Path, text: str, *, fsync: bool = False, mode: int | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), fsync=fsync, mode=mode)


@contextlib.contextmanager
def target(path: Path) -> Iterator[Path]:
    """Yield a temporary path for a writer that wants a filename; rename on success."""
    tmp = _temp_sibling(path)
    # Keep the real suffix last: some writers (OpenEXR, USD) choose the format from it.
    tmp = tmp.with_name(tmp.name + path.suffix)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def set_aside(folder: Path) -> list[tuple[Path, Path]]:
    """Directories :func:`swap_dir` set aside in ``folder`` and never removed (the process
    stopped between its renames, or before its cleanup): (final path, aside path)."""
    found = []
    for aside in sorted(folder.glob(f".*{TEMP_MARK}*")):
        if aside.is_dir():
            found.append((aside.with_name(aside.name[1 : aside.name.rindex(TEMP_MARK)]), aside))
    return found


def finish_swaps(folder: Path) -> list[str]:
    """Complete what interrupted swaps left in ``folder`` (call it holding the folder's
    lock): where the new directory is in place, the old one set aside is removed; where
    nothing is in place, the old one is put back (the swap is rolled back, and the new one
    is still where it was built). Returns one line per repair."""
    done = []
    for dest, aside in set_aside(folder):
        if dest.exists():
            shutil.rmtree(aside, ignore_errors=True)
            done.append(f"removed {aside.name}, the {dest.name} pass replaced before a stop")
        else:
            aside.rename(dest)
            done.append(f"put {dest.name} back from {aside.name}, set aside before a stop")
    return done


def swap_dir(new: Path, dest: Path) -> None:
    """Put directory ``new`` at ``dest``, replacing what was there.

    The old directory is renamed aside first and removed only after the new one is in
    place, so an interruption leaves either the old pass or the new one, never a mix.
    """
    old = None
    if dest.exists():
        old = _temp_sibling(dest)
        dest.rename(old)
    try:
        new.rename(dest)
    except BaseException:
        if old is not None:
            old.rename(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
