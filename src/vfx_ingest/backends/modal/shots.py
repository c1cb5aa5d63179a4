"""A shot's copy in the shots volume: what the worker reads, where its outputs come from.

Each local shot has one folder in the volume, ``<shot name>-<hash of host and path>/``,
laid out like the shot itself (``shot.json``, the passes, ``.staging/``), plus the clip
under ``.source/<sha256><ext>``. It persists between runs, so a later stage finds the
passes it reads already there and an interrupted remote stage resumes from its staging.

Before a stage runs, :meth:`RemoteShot.prepare` sends what the copy lacks (the clip, the
upstream passes whose records differ) in one batch upload and writes the copy's
``shot.json`` from the local records; afterwards :meth:`RemoteShot.download` brings the
outputs back into a local staging folder, each file checked against its recorded sha256.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from ... import __version__, atomic, cache
from ...digest import FileDigest, verify
from ...errors import StageFailed
from ...manifest import Manifest, SourceFile
from ...shot import MANIFEST_NAME
from ...stages import SOURCE, producer_of
from ...stages.base import StageSpec
from .seam import VolumeCalls, Writable, read_bytes
from .spec import AppSpec

SOURCE_DIR = ".source"
# Where `deploy` leaves the deployed app's spec, for clients to find its classes.
APPS_DIR = ".vfx-ingest/apps"
DOWNLOAD_JOBS = 8

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes in all)


def shot_key(root: Path) -> str:
    """The shot's folder name in the volume: readable, and unique per machine and path."""
    where = f"{socket.gethostname()}:{root.resolve()}"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", root.resolve().name).lstrip(".") or "shot"
    return f"{name[:40]}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def app_spec_path(app_name: str) -> str:
    return f"{APPS_DIR}/{app_name}.json"


def read_deployed_spec(volume: VolumeCalls, app_name: str) -> AppSpec | None:
    data = read_bytes(volume, app_spec_path(app_name))
    if data is None:
        return None
    try:
        return AppSpec.model_validate_json(data)
    except ValidationError:
        return None  # written by an older vfx-ingest: a redeploy rewrites it


class _Hashing:
    """A file object that hashes what passes through it."""

    def __init__(self, out: Writable) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


class RemoteShot:
    def __init__(self, volume: VolumeCalls, local_root: Path, mount: str) -> None:
        self.volume = volume
        self.local_root = local_root
        self.key = shot_key(local_root)
        self.mount = mount

    @property
    def container_path(self) -> str:
        """The copy as the worker sees it, inside the mounted volume."""
        return str(PurePosixPath(self.mount) / self.key)

    def path(self, rel: str) -> str:
        return f"{self.key}/{rel}"

    def read_manifest(self) -> Manifest | None:
        data = read_bytes(self.volume, self.path(MANIFEST_NAME))
        if data is None:
            return None
        try:
            return Manifest.model_validate_json(data)
        except (ValidationError, ValueError):
            return None  # unreadable copy: rebuilt from the local records

    def prepare(
        self, spec: StageSpec, local: Manifest, progress: ProgressFn | None = None
    ) -> SourceFile | None:
        """Send what ``spec`` reads and the copy lacks (``progress`` gets the bytes before
        and after the batch); write the copy's manifest. Returns the clip as the worker
        sees it (None when the stage does not read it)."""
        remote = self.read_manifest() or Manifest(tool_version=__version__)
        uploads: list[tuple[Path, str]] = []
        source = None
        if local.source is not None and SOURCE in spec.needs:
            source, clip = self._source(local.source)
            if clip is not None:
                uploads.append(clip)
            remote.source = source
        if local.frames is not None:
            remote.frames = local.frames
        # What the stage needs, and the optional inputs (``uses``) the shot has.
        for need in cache.input_digests(spec, local) or {}:
            if need == SOURCE:
                continue
            producer = producer_of(need).name
            record = local.done(producer)
            assert record is not None  # the planner checked the input is there
            theirs = remote.stages.get(producer)
            if theirs is None or theirs.output_digest != record.output_digest:
                self.volume.remove(self.path(need))
                uploads += [(self.local_root / rel, self.path(rel)) for rel in record.outputs]
            remote.stages[producer] = record
        total = sum(Path(local_file).stat().st_size for local_file, _ in uploads)
        if progress is not None and total:
            progress(0, total)
        self.volume.upload(uploads)
        if progress is not None and total:
            progress(total, total)
        self.volume.upload([(remote.model_dump_json(indent=2).encode(), self.path(MANIFEST_NAME))])
        return source

    def _source(self, local: SourceFile) -> tuple[SourceFile, tuple[Path, str] | None]:
        rel = f"{SOURCE_DIR}/{local.digest.sha256}{Path(local.path).suffix.lower()}"
        there = self.volume.listdir(self.path(rel))
        sent = any(e.size == local.digest.size and not e.is_dir for e in there)
        remote = local.model_copy(update={"path": f"{self.container_path}/{rel}"})
        return remote, None if sent else (Path(local.path), self.path(rel))

    def download(
        self,
        outputs: dict[str, FileDigest],
        dest: Path,
        base: str = "",
        on_bytes: Callable[[int], None] | None = None,
    ) -> dict[str, FileDigest]:
        """Fetch ``outputs`` (relative to ``base`` in the copy) into ``dest``, in parallel,
        each checked against its sha256; files already there intact are kept (a resumed
        download). Returns their digests as they are on this disk."""

        def fetch(rel: str) -> tuple[str, FileDigest]:
            expected = outputs[rel]
            target = dest / rel
            if verify(target, expected, full=True):  # a resumed download: already here
                mtime_ns = target.stat().st_mtime_ns
                known = FileDigest(sha256=expected.sha256, size=expected.size, mtime_ns=mtime_ns)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                where = self.path(f"{base}/{rel}" if base else rel)
                with atomic.target(target) as tmp, tmp.open("wb") as out:
                    hashing = _Hashing(out)
                    self.volume.read(where, hashing)
                    got = hashing.sha256.hexdigest()
                    if got != expected.sha256 or hashing.size != expected.size:
                        raise StageFailed(
                            f"{rel} came back from the Modal volume with other content than "
                            "the worker recorded",
                            where=self.volume.name,
                            fix="Run again: the download resumes and fetches it anew",
                        )
                st = target.stat()
                known = FileDigest(sha256=got, size=st.st_size, mtime_ns=st.st_mtime_ns)
            if on_bytes is not None:
                on_bytes(expected.size)
            return rel, known

        with ThreadPoolExecutor(DOWNLOAD_JOBS, thread_name_prefix="download") as pool:
            return dict(pool.map(fetch, sorted(outputs)))
