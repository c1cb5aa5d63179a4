"""Bring models onto this machine: every missing file, in parallel, verified, atomically.

Models are tried source by source in registry order (or only the pinned source with
``locked``); a model's files all come from one source. Files download in parallel (one
pool for models, one for files, so a model waiting on its files never starves them).
Progress and results are events; nothing here prints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..digest import FileDigest
from ..errors import BadInput, VfxIngestError
from .fetch import AccessDenied, FetchRequest, SourceFailed
from .registry import ModelEntry
from .sources import GdriveSource, HfSource, Source, UrlSource, parse_source
from .store import DownloadRecord, ModelCheck, Store


class FileProgress(BaseModel):
    type: Literal["download"] = "download"
    model: str
    file: str
    done: int
    total: int | None = None


class ModelResult(BaseModel):
    type: Literal["model"] = "model"
    id: str
    status: Literal["cached", "downloaded", "failed", "manual"]
    folder: str | None = None
    source: str | None = None
    digest: str | None = None
    error: str | None = None
    exit_code: int = 0


SyncEvent = FileProgress | ModelResult
EventFn = Callable[[SyncEvent], None]


class Syncer:
    """One ``models sync``: options, pools and the event sink shared by its models."""

    def __init__(
        self,
        store: Store,
        *,
        on_event: EventFn | None = None,
        locked: bool = False,
        jobs: int = 4,
        timeout: float = 30.0,
        retries: int = 3,
        cancel: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.emit = on_event or (lambda event: None)
        self.locked = locked
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.retries = retries
        self.cancel = cancel or threading.Event()
        if locked and store.lock is None:
            raise BadInput(
                "--locked was given but there is no models.lock",
                fix="Run `vfx-ingest models lock` on a machine with verified models, commit "
                "models.lock, or pass --lock PATH",
            )

    def run(self, entries: list[ModelEntry]) -> list[ModelResult]:
        with (
            ThreadPoolExecutor(self.jobs, thread_name_prefix="model") as models,
            ThreadPoolExecutor(self.jobs, thread_name_prefix="file") as files,
        ):
            futures = [models.submit(self._model, entry, files) for entry in entries]
            try:
                return [future.result() for future in futures]
            except BaseException:
                self.cancel.set()  # Ctrl-C: downloads stop at their next chunk, partials kept
                raise

    def sources(self, entry: ModelEntry) -> list[Source]:
        if not self.locked:
            return entry.parsed_sources
        assert self.store.lock is not None
        locked = self.store.lock.models.get(entry.id)
        if locked is None:
            raise BadInput(
                f"{entry.id} is not in models.lock, and --locked refuses anything else",
                fix=f"Run `vfx-ingest models lock {entry.id}` where it is verified, or drop "
                "--locked",
            )
        return [parse_source(locked.source)]

    def _model(self, entry: ModelEntry, files: ThreadPoolExecutor) -> ModelResult:
        try:
            result = self._sync_model(entry, files)
        except VfxIngestError as exc:
            result = ModelResult(
                id=entry.id, status="failed", error=exc.line(), exit_code=exc.exit_code
            )
        self.emit(result)
        return result

    def _sync_model(self, entry: ModelEntry, files: ThreadPoolExecutor) -> ModelResult:
        if entry.manual:
            return self._manual(entry)
        sources = self.sources(entry)
        check = self.store.check(entry, sources=sources)
        if check.status == "ok":
            return _result(entry, "cached", check)
        errors: list[VfxIngestError] = []
        for source in sources:
            try:
                self._download(entry, source, files)
            except (SourceFailed, AccessDenied) as exc:
                errors.append(exc)
                continue
            check = self.store.check(entry, sources=[source])
            if check.status == "ok":
                return _result(entry, "downloaded", check)
            errors.append(VfxIngestError(f"{entry.id}: {check.problems()}"))
        # The error a user can act on (a license to accept) beats a network one.
        raise next((e for e in errors if isinstance(e, AccessDenied)), errors[-1])

    def _manual(self, entry: ModelEntry) -> ModelResult:
        check = self.store.check(entry)
        if check.status == "ok":
            return _result(entry, "cached", check)
        missing = ", ".join(f.path for f in check.files if f.status != "ok")
        error = BadInput(
            f"{entry.id} needs a registration and is placed by hand; missing: {missing}",
            fix=f"{entry.instructions}; then `vfx-ingest models verify {entry.id}`",
        )
        return ModelResult(
            id=entry.id,
            status="manual",
            folder=str(self.store.own_dir(entry)),
            error=error.line(),
            exit_code=error.exit_code,
        )

    def _download(self, entry: ModelEntry, source: Source, files: ThreadPoolExecutor) -> None:
        """Fetch every file of ``entry`` that ``source``'s location lacks or has corrupt."""
        if isinstance(source, HfSource):
            from .hf_source import gated_help, have_token

            if entry.gated and not have_token():
                raise AccessDenied(
                    f"{entry.id} is gated on the Hub and no Hugging Face token is set",
                    fix=gated_help(entry, source),
                )
            cached = self.store.hf_location(source).revision
            if cached and not source.pinned:
                # Complete the commit the cache already holds: a model's files never mix
                # revisions, and `sync` never moves a model to a newer one silently.
                source = source.at(cached)
        state = {f.path: f.status for f in self.store.check(entry, sources=[source]).files}
        todo = [f.path for f in entry.files if state.get(f.path) != "ok"]
        futures = [
            files.submit(self._file, entry, source, path, state.get(path) == "corrupt")
            for path in todo
        ]
        digests: dict[str, FileDigest] = {}
        failures: list[VfxIngestError] = []
        for path, future in zip(todo, futures, strict=True):
            try:
                digests[path] = future.result()
            except (SourceFailed, AccessDenied) as exc:
                failures.append(exc)
        if not isinstance(source, HfSource) and digests:
            record = self.store.read_record(entry)
            if record is None or record.source != str(source):
                record = DownloadRecord(source=str(source))
            record.files.update(digests)
            self.store.write_record(entry, record)
        if failures:
            raise failures[0]

    def _file(self, entry: ModelEntry, source: Source, path: str, corrupt: bool) -> FileDigest:
        dest = self.store.own_dir(entry) / path

        def progress(done: int, total: int | None) -> None:
            request.check_cancelled()
            self.emit(FileProgress(model=entry.id, file=path, done=done, total=total))

        request = FetchRequest(
            model=entry.id,
            path=path,
            dest=dest,
            expected=self.store.expected(entry, None, path),
            on_progress=progress,
            timeout=self.timeout,
            retries=self.retries,
            cancel=self.cancel,
        )
        if isinstance(source, HfSource):
            from .hf_source import fetch_hf

            dest, sha256 = fetch_hf(entry, source, request, self.store, force=corrupt)
        elif isinstance(source, UrlSource):
            from .url_source import fetch_url

            sha256 = fetch_url(source, request)
        elif isinstance(source, GdriveSource):
            from .gdrive_source import fetch_gdrive

            sha256 = fetch_gdrive(source, request)
        self.store.remember(dest, sha256)
        st = Path(dest).resolve().stat()
        return FileDigest(sha256=sha256, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _result(
    entry: ModelEntry, status: Literal["cached", "downloaded"], check: ModelCheck
) -> ModelResult:
    return ModelResult(
        id=entry.id, status=status, folder=check.folder, source=check.source, digest=check.digest
    )
