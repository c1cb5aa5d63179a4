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
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from . import __version__, atomic
from .errors import BadInput, ShotBusy
from .manifest import SCHEMA_VERSION, Manifest, utcnow

MANIFEST_NAME = "shot.json"
STAGING_NAME = ".staging"
LOCK_NAME = ".vfx-ingest.lock"


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
        atomic.write_text(self.manifest_path, manifest.model_dump_json(indent=2) + "\n", fsync=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the shot for one process; a second run on the same shot fails fast."""
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
                handle.write(f"pid {os.getpid()}")
                handle.flush()
                try:
                    yield
                finally:
                    with contextlib.suppress(OSError):  # not empty: a run to resume
                        (self.root / STAGING_NAME).rmdir()
                    # Removed while still held, so a waiting process never locks a file
                    # that is no longer the shot's lock (it checks, above).
                    path.unlink(missing_ok=True)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return


def _same_file(path: Path, fd: int) -> bool:
    try:
        return path.stat().st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
