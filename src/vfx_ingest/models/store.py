"""Where each model's files live on this machine, and whether they are intact.

Files from ``hf://`` sources live in huggingface_hub's cache (shared with every other tool
that uses it: ``<cache>/models--org--repo/snapshots/<commit>/...``); files from other
sources, and manual models, in ``<models_dir>/<id>/``. Both are plain directories, so a
worker can resolve models from a mounted volume (``VFX_INGEST_MODELS_DIR`` and
``VFX_INGEST_HF_CACHE`` or ``HF_HOME`` pointing into it) with no network at all.

What a file should hold comes from, in order: ``models.lock``, the registry's published
digest, the Hub's own name for the blob (its sha256 for LFS files, its git id for small
ones), the digest we recorded while downloading it. A full hash is taken only when the
lock or the registry gives a digest and the file's size and mtime are not known to have
been hashed already (kept in ``<models_dir>/.digests.json``), or when ``verify`` asks.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from .. import atomic
from ..digest import FileDigest, tree_digest
from .lock import LockFile
from .registry import ModelEntry
from .sources import HfSource, Source, parse_source

RECORD_NAME = ".vfx-ingest-model.json"
STAT_CACHE_NAME = ".digests.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")

FileStatus = Literal["ok", "missing", "corrupt"]


@dataclass(frozen=True)
class Expected:
    """What a file should be, and who says so (for messages)."""

    origin: str
    sha256: str | None = None
    bytes: int | None = None
    git_sha1: str | None = None


# "28.4M params", "1.2B params" in a registry description.
PARAMS = re.compile(r"(\d+(?:\.\d+)?)([MB]) params")


@dataclass(frozen=True)
class ModelSize:
    bytes: int
    origin: str  # registry, lock, local files or estimate
    exact: bool = True


@dataclass(frozen=True)
class Location:
    """One place a model's files are (or would be) on this machine."""

    folder: Path
    source: Source | None  # None: a manual model's folder
    revision: str | None = None  # the commit an hf:// revision resolved to

    @property
    def pinned(self) -> str:
        if self.source is None:
            return "manual"
        if isinstance(self.source, HfSource) and self.revision:
            return str(self.source.at(self.revision))
        return str(self.source)


class FileCheck(BaseModel):
    path: str
    status: FileStatus
    sha256: str | None = None
    bytes: int | None = None
    checked_against: str | None = None
    detail: str = ""


class ModelCheck(BaseModel):
    id: str
    status: FileStatus
    folder: str | None = None
    source: str | None = None
    files: list[FileCheck]
    digest: str | None = None

    def problems(self) -> str:
        bad = [f for f in self.files if f.status != "ok"]
        return "; ".join(f"{f.path}: {f.detail or f.status}" for f in bad)


class DownloadRecord(BaseModel):
    """What we downloaded into ``<models_dir>/<id>/``, hashed as it arrived."""

    source: str
    files: dict[str, FileDigest] = {}


def hf_default_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def git_blob_sha1(data: bytes) -> str:
    """The id git (and so the Hub) gives a small file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class Store:
    def __init__(
        self, models_dir: Path, hf_cache: Path | None = None, lock: LockFile | None = None
    ) -> None:
        self.models_dir = models_dir.expanduser()
        self._hf_cache = hf_cache.expanduser() if hf_cache else None
        self.lock = lock
        self._stats: dict[str, FileDigest] | None = None
        self._stats_lock = threading.Lock()

    def size(self, entry: ModelEntry, location: Location | None) -> ModelSize | None:
        """A model's size: as published in the registry, else as the lock file recorded it,
        else as its files here measure, else an estimate from the parameter count its
        description states (4 bytes each, as float32 checkpoints are); None when nothing
        says."""
        if entry.size is not None:
            return ModelSize(bytes=entry.size, origin="registry")
        locked = self.lock.models.get(entry.id) if self.lock else None
        if locked is not None and set(locked.files) >= {f.path for f in entry.files}:
            return ModelSize(
                bytes=sum(locked.files[f.path].bytes for f in entry.files), origin="lock"
            )
        if location is not None:
            files = [location.folder / f.path for f in entry.files]
            return ModelSize(bytes=sum(f.stat().st_size for f in files), origin="local files")
        if match := PARAMS.search(entry.description):
            count = float(match.group(1)) * {"M": 1e6, "B": 1e9}[match.group(2)]
            return ModelSize(bytes=round(count * 4), origin="estimate", exact=False)
        return None

    @property
    def hf_cache(self) -> Path:
        return self._hf_cache or hf_default_cache()

    def own_dir(self, entry: ModelEntry) -> Path:
        return self.models_dir / entry.id

    # -- where --------------------------------------------------------------------------

    def hf_location(self, source: HfSource) -> Location:
        """The snapshot folder the Hub cache uses for ``source`` (it may not exist yet)."""
        repo = self.hf_cache / f"models--{source.repo.replace('/', '--')}"
        commit = source.revision if source.pinned else None
        if commit is None:
            ref = repo / "refs" / source.revision
            commit = ref.read_text().strip() if ref.is_file() else None
        folder = repo / "snapshots" / (commit or f"<{source.revision}>")
        if source.subfolder:
            folder = folder / source.subfolder
        return Location(folder, source, commit)

    def candidates(self, entry: ModelEntry, sources: list[Source] | None = None) -> list[Location]:
        """Every place ``entry`` may be, in source order."""
        if entry.manual:
            return [Location(self.own_dir(entry), None)]
        found: list[Location] = []
        own_done = False
        for source in sources or entry.parsed_sources:
            if isinstance(source, HfSource):
                found.append(self.hf_location(source))
            elif not own_done:
                record = self.read_record(entry)
                recorded = parse_source(record.source) if record else source
                found.append(Location(self.own_dir(entry), recorded))
                own_done = True
        return found

    def locate(self, entry: ModelEntry, sources: list[Source] | None = None) -> Location | None:
        """The first place holding every file of ``entry``; None when none does."""
        for location in self.candidates(entry, sources):
            if all((location.folder / f.path).is_file() for f in entry.files):
                return location
        return None

    # -- what ---------------------------------------------------------------------------

    def read_record(self, entry: ModelEntry) -> DownloadRecord | None:
        path = self.own_dir(entry) / RECORD_NAME
        try:
            return DownloadRecord.model_validate_json(path.read_text())
        except (OSError, ValidationError, ValueError):
            return None

    def write_record(self, entry: ModelEntry, record: DownloadRecord) -> None:
        atomic.write_text(self.own_dir(entry) / RECORD_NAME, record.model_dump_json(indent=2))

    def expected(self, entry: ModelEntry, location: Location | None, rel: str) -> Expected | None:
        locked = self.lock.models.get(entry.id) if self.lock else None
        if locked and rel in locked.files:
            return Expected("models.lock", locked.files[rel].sha256, locked.files[rel].bytes)
        published = next(f for f in entry.files if f.path == rel)
        if published.sha256:
            return Expected("registry", published.sha256, published.bytes)
        if location is None:
            return None
        path = location.folder / rel
        if isinstance(location.source, HfSource) and path.is_symlink():
            blob = path.readlink().name
            if _SHA256.fullmatch(blob):
                return Expected("the Hub's LFS digest", blob, published.bytes)
            if _GIT_SHA1.fullmatch(blob):
                return Expected("the Hub's git id", None, published.bytes, git_sha1=blob)
        record = self.read_record(entry) if location.folder == self.own_dir(entry) else None
        if record and rel in record.files:
            digest = record.files[rel]
            return Expected("the digest taken while downloading", digest.sha256, digest.size)
        return None

    # -- intact? ------------------------------------------------------------------------

    def check(
        self, entry: ModelEntry, *, full: bool = False, sources: list[Source] | None = None
    ) -> ModelCheck:
        """Each file's state; ``full`` re-hashes everything (``models verify``)."""
        location = self.locate(entry, sources)
        if location is None:
            partial = [
                loc
                for loc in self.candidates(entry, sources)
                if any((loc.folder / f.path).is_file() for f in entry.files)
            ]
            location = partial[0] if partial else None
        files = [self._check_file(entry, location, f.path, full) for f in entry.files]
        statuses = {f.status for f in files}
        status: FileStatus = next(s for s in ("corrupt", "missing", "ok") if s in statuses)
        digest = None
        if status == "ok" and location is not None:
            digests = {
                f.path: FileDigest(sha256=f.sha256 or "", size=f.bytes or 0, mtime_ns=0)
                for f in files
            }
            digest = tree_digest(digests)
        return ModelCheck(
            id=entry.id,
            status=status,
            folder=str(location.folder) if location else None,
            source=location.pinned if location and status == "ok" else None,
            files=files,
            digest=digest,
        )

    def _check_file(
        self, entry: ModelEntry, location: Location | None, rel: str, full: bool
    ) -> FileCheck:
        if location is None or not (location.folder / rel).is_file():
            return FileCheck(path=rel, status="missing", detail="not downloaded")
        path = location.folder / rel
        expected = self.expected(entry, location, rel)
        size = path.stat().st_size
        against = expected.origin if expected else None
        if expected and expected.bytes is not None and size != expected.bytes:
            return FileCheck(
                path=rel,
                status="corrupt",
                bytes=size,
                checked_against=against,
                detail=f"{size} bytes, {against} says {expected.bytes}",
            )
        trusted = expected is not None and expected.origin not in ("models.lock", "registry")
        if expected and expected.sha256 and trusted and not full and not self._changed(path):
            # The Hub's name for the blob or our own record, and the file not touched since
            # we last hashed it: the size check is enough here.
            return FileCheck(
                path=rel, status="ok", sha256=expected.sha256, bytes=size, checked_against=against
            )
        sha256, git_sha1 = self.hash(path, full=full, git=bool(expected and expected.git_sha1))
        wanted_git = expected.git_sha1 if expected else None
        if (expected and expected.sha256 and sha256 != expected.sha256) or (
            wanted_git and git_sha1 != wanted_git
        ):
            return FileCheck(
                path=rel,
                status="corrupt",
                sha256=sha256,
                bytes=size,
                checked_against=against,
                detail=f"content differs from {against}",
            )
        return FileCheck(path=rel, status="ok", sha256=sha256, bytes=size, checked_against=against)

    # -- hashing with a stat cache --------------------------------------------------------

    def _stat_cache(self) -> dict[str, FileDigest]:
        if self._stats is None:
            try:
                raw = json.loads((self.models_dir / STAT_CACHE_NAME).read_text())
                self._stats = {k: FileDigest.model_validate(v) for k, v in raw.items()}
            except (OSError, ValueError, ValidationError):
                self._stats = {}
        return self._stats

    def _changed(self, path: Path) -> bool:
        """True when ``path`` was hashed before and its size or mtime moved since."""
        real = path.resolve()
        known = self._stat_cache().get(str(real))
        return known is not None and not known.matches_stat(real)

    def remember(self, path: Path, sha256: str) -> None:
        """Record that ``path``, as it is now, holds ``sha256`` (so plan need not hash it)."""
        real = path.resolve()
        st = real.stat()
        with self._stats_lock:
            stats = self._stat_cache()
            stats[str(real)] = FileDigest(sha256=sha256, size=st.st_size, mtime_ns=st.st_mtime_ns)
            try:
                self.models_dir.mkdir(parents=True, exist_ok=True)
                text = json.dumps({k: v.model_dump() for k, v in stats.items()}, indent=0)
                atomic.write_text(self.models_dir / STAT_CACHE_NAME, text)
            except OSError:
                pass  # a read-only volume: hashing again next time is the only cost

    def hash(self, path: Path, *, full: bool = False, git: bool = False) -> tuple[str, str | None]:
        """sha256 (and the git blob id when asked) of ``path``; reused while its stat holds."""
        real = path.resolve()
        known = self._stat_cache().get(str(real))
        if known and not full and not git and known.matches_stat(real):
            return known.sha256, None
        if git:
            data = real.read_bytes()  # only small, non-LFS Hub files carry a git id
            sha256, git_sha1 = hashlib.sha256(data).hexdigest(), git_blob_sha1(data)
        else:
            with real.open("rb") as f:
                sha256, git_sha1 = hashlib.file_digest(f, "sha256").hexdigest(), None
        self.remember(real, sha256)
        return sha256, git_sha1
