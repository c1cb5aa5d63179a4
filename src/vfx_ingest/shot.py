"""The shot folder: its layout, its manifest, its lock and its staging area.

```
<shot>/shot.json          the manifest (written atomically, fsynced)
<shot>/<pass>/...         finished passes: plate, depth, roto, matte, camera
<shot>/.staging/...       stage outputs being written; moved into place when complete
<shot>/.vfx-ingest.lock   held by the process working on the shot
```

Neither of the last two outlives a run that finished: an empty ``.staging/`` and the lock
file are removed when the lock is released (a failed or interrupted run's staging stays,
for the next run to resume).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from . import __version__, atomic
from .errors import BadInput, ShotBusy
from .manifest import SCHEMA_VERSION, Manifest, StageRecord, utcnow

MANIFEST_NAME = "shot.json"
STAGING_NAME = ".staging"
LOCK_NAME = ".vfx-ingest.lock"
# Space held while a process works on the shot, given up to save the manifest when the
# disk fills: a full disk must not leave a stage recorded as `running`.
RESERVE_NAME = ".vfx-ingest.reserve"
RESERVE_MIN_BYTES = 256 * 1024


class ShotFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def pass_dir(self, name: str) -> Path:
        return self.root / name

    def staging_dir(self, stage: str, cache_key: str) -> Path:
        """Where a stage run writes; keyed by cache key so a rerun resumes its own work."""
        return self.root / STAGING_NAME / f"{stage}-{cache_key[:16]}"

    def discard_stale_staging(self, stage: str, keep: Path) -> None:
        staging = self.root / STAGING_NAME
        if not staging.is_dir():
            return
        for entry in staging.glob(f"{stage}-*"):
            if entry != keep:
                shutil.rmtree(entry, ignore_errors=True)

    def prepare(self) -> None:
        """Create the folder and prove we can write to it, before any work starts."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(self.root / ".write-test", b"")
            (self.root / ".write-test").unlink()
        except OSError as exc:
            raise BadInput(
                f"cannot write to the shot folder ({exc.strerror or exc})",
                where=str(self.root),
                fix="Choose a writable folder with --shot",
            ) from exc

    def load_manifest(self) -> Manifest | None:
        path = self.manifest_path
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BadInput(
                f"cannot read the manifest ({exc})",
                where=str(path),
                fix="Move it away to start the shot afresh",
            ) from exc
        version = data.get("schema_version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise BadInput(
                f"manifest schema {version} is newer than this vfx-ingest understands "
                f"({SCHEMA_VERSION})",
                where=str(path),
                fix="Upgrade vfx-ingest",
            )
        try:
            return Manifest.model_validate(data)
        except ValidationError as exc:
            raise BadInput(f"invalid manifest ({exc.errors()[0]['msg']})", where=str(path)) from exc

    def new_manifest(self) -> Manifest:
        return Manifest(tool_version=__version__)

    def save_manifest(self, manifest: Manifest) -> None:
        manifest.updated_at = utcnow()
        manifest.tool_version = __version__
        text = manifest.model_dump_json(indent=2) + "\n"
        try:
            atomic.write_text(self.manifest_path, text, fsync=True)
        except OSError as exc:
            reserve = self.root / RESERVE_NAME
            if exc.errno != errno.ENOSPC or not reserve.exists():
                raise
            reserve.unlink()  # the disk is full: the reserve makes room for the record
            atomic.write_text(self.manifest_path, text, fsync=True)

    def _reserve_space(self) -> None:
        """Hold room for the manifest's next rewrites (twice its size); best effort."""
        try:
            size = max(RESERVE_MIN_BYTES, 2 * self.manifest_path.stat().st_size)
        except OSError:
            size = RESERVE_MIN_BYTES
        try:
            fd = os.open(self.root / RESERVE_NAME, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError:
            (self.root / RESERVE_NAME).unlink(missing_ok=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the shot for one process; a second run on the same shot fails fast.

        The lock file names the holder (pid and host). Taking it first repairs what a
        stopped run left half done: a pass swap interrupted between its renames."""
        path = self.root / LOCK_NAME
        while True:
            with path.open("a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError as exc:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise ShotBusy(
                        f"the shot is in use by {holder}",
                        where=str(self.root),
                        fix="Wait for that run to finish or pick another --shot",
                    ) from exc
                if not _same_file(path, handle.fileno()):
                    continue  # its holder removed it between our open and our lock: again
                handle.seek(0)
                handle.truncate()
                pid, host = this_process()
                handle.write(f"pid {pid} on {host}")
                handle.flush()
                try:
                    atomic.finish_swaps(self.root)
                    self._reserve_space()
                    yield
                finally:
                    (self.root / RESERVE_NAME).unlink(missing_ok=True)
                    with contextlib.suppress(OSError):  # not empty: a run to resume
                        (self.root / STAGING_NAME).rmdir()
                    # Removed while still held, so a waiting process never locks a file
                    # that is no longer the shot's lock (it checks, above).
                    path.unlink(missing_ok=True)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return

    def holder(self) -> str | None:
        """Who holds the shot's lock ("pid 12 on host"), or None when no process does."""
        path = self.root / LOCK_NAME
        if not path.is_file():
            return None
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "another process"
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def observed(self, manifest: Manifest) -> tuple[Manifest, list[str]]:
        """The manifest as things stand, for `status` (nothing is changed on disk): a
        `running` record whose process is gone shows as interrupted; a pass that a stopped
        swap left aside is named. Returns the adjusted copy and one note per problem."""
        view = manifest.model_copy(deep=True)
        notes: list[str] = []
        if self.holder() is None:
            for record in view.stages.values():
                if record.status == "running":
                    record.status = "interrupted"
                    record.error = f"{_who(record)} stopped before the stage finished"
                    notes.append(
                        f"{record.stage}: interrupted; the next run resumes where it stopped"
                    )
        for dest, aside in atomic.set_aside(self.root):
            if dest.exists():
                continue
            what = f"{dest.name}/ is missing: a run stopped while replacing it"
            notes.append(f"{what}; the next run puts back {aside.name}")
            for record in view.stages.values():
                good = record.good()
                if good is not None and any(p.startswith(f"{dest.name}/") for p in good.outputs):
                    record.last_good = None
                    record.error = f"{record.error}; {what}" if record.error else what
        return view, notes


def _who(record: StageRecord) -> str:
    if record.pid is None:
        return "its run"
    return f"its run (pid {record.pid}" + (f" on {record.host})" if record.host else ")")


def this_process() -> tuple[int, str]:
    """(pid, host) of this process, as records and the lock name it."""
    return os.getpid(), socket.gethostname()


def _same_file(path: Path, fd: int) -> bool:
    try:
        return path.stat().st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
